"""rev16d: the reconciler's put-back of a parked Spot instance racing a new interruption's drain, and a target
group deleted while the instance was parked. The lock table in moto DynamoDB; EC2 and ELBv2 stubbed at the
functions the reconciler calls (steps/aws/ec2.py ``power``, steps/aws/elbv2.py ``register``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from nightshift.runtime.moto_gaps import serialize_dynamodb_writes
from steps.aws import ec2, elbv2
from steps.core.exceptions import AwsCallFailed
from steps.store import lock, parked, terminating
from steps.sweep import reconcile

INSTANCE = "i-0123456789abcdef0"
TG_A = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/a/1"
TG_B = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/b/2"
TG_C = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/c/3"
WARNED = 1_000_000.0


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    serialize_dynamodb_writes()
    audits: list[tuple[str, Any]] = []
    monkeypatch.setattr(reconcile, "_park_audit", lambda item, event, *a, **k: audits.append((str(event), k)))
    with mock_aws():
        lock.GroupLock.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield audits


def parked_by_first_drain(now: float = WARNED) -> parked.ParkedInstance:
    terminating.mark(INSTANCE, "spot", "drain-1", now)
    return parked.park(INSTANCE, "web", [{"arn": TG_A, "port": None}, {"arn": TG_B, "port": None}], "stop", now,
                       "drain-1", now)


def second_interruption(now: float) -> None:
    """What prepare_termination_drain writes for a new interruption: its mark, then the merged park record."""
    terminating.mark(INSTANCE, "spot", "drain-2", now)
    parked.park(INSTANCE, "web", [{"arn": TG_C, "port": None}], "stop", now, "drain-2", now)


def test_a_new_interruption_during_the_put_back_keeps_its_park_record(table: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a parked instance EC2 restarted, read by the sweep (its park record of drain-1)
    item = parked_by_first_drain()
    now = WARNED + 600
    registered: list[str] = []

    def power(instance_id: str) -> tuple[str, bool, str]:
        # WHILE the reconciler looks, EC2 interrupts it again: drain-2 marks it and parks it (merging TG_C)
        second_interruption(now)
        return "running", True, "state=running"

    monkeypatch.setattr(ec2, "power", power)
    monkeypatch.setattr(elbv2, "register", lambda arn, instance_id, port=None: registered.append(arn))
    taken_back: list[str] = []
    monkeypatch.setattr(elbv2, "deregister", lambda arn, instance_id, port=None: taken_back.append(arn))
    reconcile.unpark(item, now, "sweep-1")
    # what it registered after drain-2 marked it, it takes back (drain-2 deregisters what it found registered)
    assert taken_back == registered
    # THEN drain-2's park record survives the reconciler finishing drain-1's (else it is never put back)
    record = parked.find(INSTANCE)
    assert record is not None, "drain-2's park record was deleted by the put-back of drain-1's"
    assert record.execution == "drain-2"
    assert {r["arn"] for r in record.registrations()} == {TG_A, TG_B, TG_C}
    mark = terminating.find(INSTANCE)
    assert mark is not None and mark.execution == "drain-2"


def test_an_overdue_warning_does_not_overwrite_a_newer_park_record(table: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an instance parked for more than OVERDUE_SECONDS (EC2 has not restarted it), its mark long expired
    item = parked_by_first_drain()
    terminating.TerminatingMark(terminating.key(INSTANCE)).delete()
    now = WARNED + parked.OVERDUE_SECONDS + 60

    def power(instance_id: str) -> tuple[str, bool, str]:
        # WHILE the reconciler looks, EC2 restarts and interrupts it again: drain-2 parks it (merging TG_C)
        second_interruption(now)
        return "stopping", False, "state=stopping"

    monkeypatch.setattr(ec2, "power", power)
    assert reconcile.unpark(item, now, "sweep-1") == "waiting"
    # THEN drain-2's record is intact: its execution (matching its mark) and the target group it added
    record = parked.find(INSTANCE)
    assert record is not None
    assert record.execution == "drain-2", "the overdue save put drain-1's stale record back over drain-2's"
    assert {r["arn"] for r in record.registrations()} == {TG_A, TG_B, TG_C}


def test_a_new_interruption_during_the_put_back_leaves_it_out_of_service(table: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    item = parked_by_first_drain()
    now = WARNED + 600
    calls: list[tuple[str, str]] = []

    def power(instance_id: str) -> tuple[str, bool, str]:
        return "running", True, "state=running"

    def register(arn: str, instance_id: str, port: int | None = None) -> None:
        if not calls:  # the second interruption lands just before the first RegisterTargets
            second_interruption(now)
            calls.append(("drain-2 deregistered", arn))
        calls.append(("register", arn))

    monkeypatch.setattr(ec2, "power", power)
    monkeypatch.setattr(elbv2, "register", register)
    monkeypatch.setattr(elbv2, "deregister", lambda arn, instance_id, port=None: calls.append(("deregister", arn)))
    reconcile.unpark(item, now, "sweep-1")
    registered = {arn for op, arn in calls if op == "register"}
    deregistered_after = {arn for i, (op, arn) in enumerate(calls) if op == "deregister"
                          and any(o == "register" and a == arn for o, a in calls[:i])}
    assert registered <= deregistered_after, f"left registered while drain-2 takes it out: {calls}"


def test_a_deleted_target_group_does_not_keep_a_parked_instance_out_of_the_others(
        table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    item = parked_by_first_drain()
    now = WARNED + 600
    registered: list[str] = []

    def register(arn: str, instance_id: str, port: int | None = None) -> None:
        if arn == TG_A:
            raise AwsCallFailed(f"RegisterTargets {instance_id} in {arn}: TargetGroupNotFound: "
                                "One or more target groups not found")
        registered.append(arn)

    monkeypatch.setattr(ec2, "power", lambda instance_id: ("running", True, "state=running"))
    monkeypatch.setattr(elbv2, "register", register)
    monkeypatch.setattr(reconcile.put_back, "gone_state", lambda instance_id: None)
    with contextlib.suppress(AwsCallFailed):
        reconcile.unpark(item, now, "sweep-1")
    assert registered == [TG_B]
    assert parked.find(INSTANCE) is None


@pytest.mark.parametrize("state", ["pending", "stopping", "stopped", "shutting-down"])
def test_a_parked_instance_not_running_is_never_registered(table: Any, monkeypatch: pytest.MonkeyPatch,
                                                           state: str) -> None:
    # GIVEN a parked instance long past its interruption, that EC2 reports `state` (still going away, stopped, or
    # restarting but not running: RegisterTargets needs it running)
    item = parked_by_first_drain()
    registered: list[str] = []
    monkeypatch.setattr(ec2, "power", lambda instance_id: (state, False, f"state={state}"))
    monkeypatch.setattr(elbv2, "register", lambda arn, instance_id, port=None: registered.append(arn))
    # WHEN the reconciler looks
    outcome = reconcile.unpark(item, WARNED + 3600, "sweep-1")
    # THEN nothing is registered; it stays parked with its mark (shutting-down: it is being terminated, dropped)
    assert registered == []
    if state == "shutting-down":
        assert outcome == "dropped" and parked.find(INSTANCE) is None
    else:
        assert outcome == "waiting"
        assert parked.find(INSTANCE) is not None and terminating.find(INSTANCE) is not None


@pytest.mark.parametrize(("action", "seconds", "expected"), [
    # A stop comes two minutes after its warning ("a warning that is issued two minutes before Amazon EC2 stops or
    # terminates your Spot Instance"): "running" 90 s after the warning is the instance's last two minutes.
    ("stop", 90, "waiting"), ("stop", 119, "waiting"), ("stop", 179, "waiting"), ("stop", 181, "restored"),
    # A hibernation begins at once (no two minutes): running a minute after is EC2 having resumed it.
    ("hibernate", 59, "waiting"), ("hibernate", 61, "restored"),
])
def test_running_counts_as_restarted_only_after_the_interruption_and_a_minute(
        table: Any, monkeypatch: pytest.MonkeyPatch, action: str, seconds: float, expected: str) -> None:
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
    terminating.mark(INSTANCE, "spot", "drain-1", WARNED)
    item = parked.park(INSTANCE, "web", [{"arn": TG_A, "port": None}], action, WARNED, "drain-1", WARNED)
    registered: list[str] = []
    monkeypatch.setattr(ec2, "power", lambda instance_id: ("running", True, "state=running"))
    monkeypatch.setattr(elbv2, "register", lambda arn, instance_id, port=None: registered.append(arn))
    assert reconcile.unpark(item, WARNED + seconds, "sweep-1") == expected
    assert registered == ([TG_A] if expected == "restored" else [])


def test_a_remediations_put_back_overtaken_by_a_termination_drain_is_taken_back(
        table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a remediation's put-back (restore path, replay, reconciler) of an instance no drain has marked
    from steps.remediate import put_back

    calls: list[tuple[str, str]] = []

    def register(arn: str, instance_id: str, port: int | None = None) -> None:
        if not calls:  # a scale-in's drain marks it (and deregisters it) just before our first RegisterTargets
            terminating.mark(INSTANCE, "lifecycle", "drain-9", WARNED)
            calls.append(("drain-9 deregistered", arn))
        calls.append(("register", arn))

    monkeypatch.setattr(elbv2, "register", register)
    monkeypatch.setattr(elbv2, "deregister", lambda arn, instance_id, port=None: calls.append(("deregister", arn)))
    facts = {"deregister": {"instance_id": INSTANCE, "target_groups": [{"arn": TG_A, "port": None},
                                                                       {"arn": TG_B, "port": 8080}]}}
    # WHEN it registers the instance back
    result = put_back.put_back(facts)
    # THEN what it registered after the mark is taken back, and it reports the termination, not a put-back
    assert [c for c in calls if c[0] != "drain-9 deregistered"] == [
        ("register", TG_A), ("register", TG_B), ("deregister", TG_A), ("deregister", TG_B)]
    assert result.terminating and "drain-9" in result.terminating and result.target_groups == []


def test_a_put_back_no_drain_marked_is_not_taken_back(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from steps.remediate import put_back

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(elbv2, "register", lambda arn, instance_id, port=None: calls.append(("register", arn)))
    monkeypatch.setattr(elbv2, "deregister", lambda arn, instance_id, port=None: calls.append(("deregister", arn)))
    facts = {"deregister": {"instance_id": INSTANCE, "target_groups": [{"arn": TG_A, "port": None}]}}
    result = put_back.put_back(facts)
    assert calls == [("register", TG_A)] and result.target_groups == [TG_A] and not result.terminating
