"""The group lease bound (steps/domain/lease.py) against the real ASL, its refusal at validation, and the
conditional renewal (steps/store/lock.py ``renew``) against moto DynamoDB.

The worst time of a Task is derived here from statemachine/remediate.asl.json by Step Functions' documented
retry rules, not from the module: each retrier retries up to ``MaxAttempts`` times (default 3), waiting
``IntervalSeconds`` (default 1) x ``BackoffRate`` (default 2) ^ n, capped by ``MaxDelaySeconds``; with
``JitterStrategy: FULL`` the wait is random up to that value; every attempt may run to the Task's
``TimeoutSeconds``. https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from steps.core.config import ConfigurationError, parse_groups
from steps.domain import lease
from steps.store import lock

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "remediate.asl.json").read_text())["States"]
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def worst_seconds(state: dict[str, Any]) -> float:
    attempts, waiting = 1, 0.0
    for retrier in state.get("Retry", []):
        tries = retrier.get("MaxAttempts", 3)
        attempts += tries
        for n in range(tries):
            delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** n
            waiting += min(delay, retrier.get("MaxDelaySeconds", delay))
    return attempts * state["TimeoutSeconds"] + waiting


LAMBDA_TASKS = {name: s for name, s in ASL.items() if s["Type"] == "Task" and "FunctionArn" in s["Resource"]}


def test_the_worst_task_times_are_read_off_the_asl() -> None:
    restore = LAMBDA_TASKS["Put the instance back in service"]
    notify = [s for s in LAMBDA_TASKS.values() if s["Resource"] == "${NotifyFunctionArn}"]
    steps = [s for name, s in LAMBDA_TASKS.items()
             if s is not restore and s["Resource"] != "${NotifyFunctionArn}"]
    assert worst_seconds(restore) == lease.RESTORE_WORST_SECONDS == 9 * 60 + (2 + 4 + 8 + 16 + 32 + 60 + 60 + 60)
    assert max(worst_seconds(s) for s in notify) == lease.NOTIFY_WORST_SECONDS == 4 * 60 + (2 + 4 + 8)
    assert max(worst_seconds(s) for s in steps) == lease.STEP_WORST_SECONDS == 9 * 60 + 122 + 9


def test_from_acquisition_to_the_first_renewal() -> None:
    # The path from the lock to the first drain check (the first renewal), read off the ASL's Next fields.
    path, name = [], ASL["Acquire the group lock"]["Next"]
    while name != "Check whether the drain is over":
        state = ASL[name]
        if state["Type"] == "Task":
            path.append(name)
        if state["Type"] != "Choice":
            name = state["Next"]
        elif name in ("Is the lock ours?", "Start the next remediation too?"):  # acquired; the cascade's start
            name = state["Choices"][0]["Next"]
        else:  # not a replay, an instance to heal, allowed to leave service
            name = state["Default"]
    assert path == ["Select the worst instance", "Check capacity", "Start the next remediation of the group",
                    "Deregister from every target group", "Announce the start"]
    # ... then the first drain check fails every attempt into the restore path
    total = sum(worst_seconds(ASL[n]) for n in path) + worst_seconds(ASL["Check whether the drain is over"]) \
        + worst_seconds(ASL["Put the instance back in service"])
    assert lease.FIRST_RENEWAL_SECONDS == total == 4050


def group(**fields: Any) -> str:
    return json.dumps({"groups": [{"name": "web", "target_group_arns": [ARN], **fields}]})


def test_the_default_lease_is_enough() -> None:
    # A drain Wait of up to 3600 s (the largest deregistration delay), then e.g. Reboot and a first boot
    # check failing every attempt, then the restore path: 3600 + 671 + 671 + 782, and a 300 s margin.
    assert parse_groups(group()).groups[0].lock_lease_seconds == 7200
    assert parse_groups(group(lock_lease_seconds=6024)).groups[0].lock_lease_seconds == 6024


@pytest.mark.parametrize("seconds", [300, 3600, 6023])
def test_a_lease_shorter_than_the_longest_interval_between_renewals_is_refused(seconds: int) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_groups(group(lock_lease_seconds=seconds))
    message = str(refused.value)
    assert f"lock_lease_seconds {seconds}" in message and "at least 6024" in message


def test_a_renewal_covers_its_own_wait() -> None:
    assert lease.renewal_seconds(7200, 10) == 7200
    assert lease.renewal_seconds(300, 600) == 600 + 671 * 2 + 782 + 300


def test_a_watching_selection_renews_past_its_wait_and_a_whole_selection_after_it() -> None:
    # After a watch's Wait, the next look may select and go on to the first drain check (which renews next):
    # the same path as from acquisition (read off the ASL above), after the Wait.
    assert lease.watch_renewal_seconds(7200, 30) == 7200
    assert lease.watch_renewal_seconds(300, 30) == 30 + 4050 + 300
    assert lease.watch_renewal_seconds(300, 1500) == 1500 + lease.FIRST_RENEWAL_SECONDS + lease.MARGIN_SECONDS


@pytest.fixture
def table() -> Iterator[None]:
    with mock_aws():
        lock.GroupLock.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


def test_the_owner_renews_and_keeps_its_acquisition_time(table: None) -> None:
    assert lock.acquire("web", "exec-a", now=1000, lease_seconds=300, execution_status=lambda _: "RUNNING").acquired
    renewal = lock.renew("web", "exec-a", now=1250, lease_seconds=900)
    assert renewal.renewed and renewal.expires_at == 2150
    held = lock.holder("web")
    assert held is not None and held.expires_at == 2150 and held.acquired_at == 1000 and held.owner == "exec-a"
    # a later start while the renewed lease runs does not get the group
    other = lock.acquire("web", "exec-b", now=1400, lease_seconds=300, execution_status=lambda _: "RUNNING")
    assert not other.acquired and other.holder == "exec-a"


def test_a_renewal_by_anyone_but_the_owner_changes_nothing(table: None) -> None:
    lock.acquire("web", "exec-b", now=1000, lease_seconds=300, execution_status=lambda _: "RUNNING")
    renewal = lock.renew("web", "exec-a", now=1100, lease_seconds=900)
    assert not renewal.renewed and renewal.holder == "exec-b"
    held = lock.holder("web")
    assert held is not None and held.owner == "exec-b" and held.expires_at == 1300


def test_a_renewal_of_a_lock_that_is_gone_does_not_recreate_it(table: None) -> None:
    renewal = lock.renew("web", "exec-a", now=1100, lease_seconds=900)
    assert not renewal.renewed and renewal.holder is None
    assert lock.holder("web") is None
