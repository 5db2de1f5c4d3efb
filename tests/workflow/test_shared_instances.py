"""An instance registered in a target group of another declared group is never rebooted, stopped or replaced
by either group (steps/remediate/blockers.py serves_another_group; docs/design.md "Instances shared by two groups").

Group "web" declares the fleet's HTTPS target group, group "api" its HTTP one. A reboot takes an instance out
of both, but web drains it only from HTTPS and checks only its own floor. The guard runs at the selection
(the instance is passed over, SKIPPED_SHARED), before the reboot and before a destructive escalation rung
(registered in api's target group since the selection: put back, not rebooted; CapacityLost pages). Each test
asserts on the requests sent to AWS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import Harness, early_in_a_utc_day, group_for
from tests.workflow.test_escalation import broken_app

pytestmark = pytest.mark.workflow

MUTATING = ("DeregisterTargets", "RebootInstances", "StopInstances", "StartInstances", "SetInstanceHealth",
            "TerminateInstanceInAutoScalingGroup")


def two_groups(h: Harness, api_target_groups: list[str] | None = None, **web: Any) -> tuple[str, str]:
    """web: HTTPS only; api: HTTP only (or ``api_target_groups``). Returns (https, http)."""
    https, http = h.built.target_group_arns
    base = group_for(h.built)
    h.rt.declare_groups([{**h.group, **web, "name": "web", "target_group_arns": [https]},
                         {**base, "name": "api", "target_group_arns": api_target_groups or [http]}])
    return https, http


def only_in(h: Harness, instance: str, keep: str, drop: str) -> None:
    """Take ``instance`` out of ``drop`` before anything starts (as an operator would), leave it in ``keep``."""
    h.sim.asg_deregister(instance, [drop], h.sim.now())
    h.rt.clock.advance(h.sim.spec.deregistration_delay + 1)
    assert h.sim.target_state(instance, drop) is None and h.sim.target_state(instance, keep) == "healthy"


def joins_api_before(h: Harness, function: str, http: str) -> None:
    """Right before ``function`` first runs, an operator (or a deploy) registers the leaker in api's target group."""
    def register(name: str, *_: Any) -> None:
        if name == function and h.sim.target_state(h.leaker, http) is None:
            h.sim.asg_register(h.leaker, [http], h.sim.now())

    h.rt.router.before.append(register)


def shared_since_selection(h: Harness, function: str) -> tuple[str, dict[str, Any]]:
    """The leaker serves only in web's target group when web selects it, and joins api's right before
    ``function``; web's run. Returns (web's target group, the run's result)."""
    https, http = two_groups(h)
    only_in(h, h.leaker, keep=https, drop=http)
    joins_api_before(h, function, http)
    return https, h.run()


def requests_for(h: Harness, instance: str) -> list[str]:
    return [c.operation for c in h.rt.api_calls() if c.accepted and c.operation in MUTATING
            and instance in json.dumps(c.params, default=str)]


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(result["output"])["outcome"])


def test_a_leaker_behind_both_groups_target_groups_is_passed_over_with_the_fix_named(harness: Any) -> None:
    h = harness()
    two_groups(h)
    result = h.run()
    assert result["status"] == "SUCCEEDED"
    assert outcome(result)["status"] == "nothing_to_do"
    assert requests_for(h, h.leaker) == []  # not even drained from web's own target group
    skipped = [r for r in h.audit_records() if r["event"] == "SKIPPED_SHARED"]
    assert [r["instance_id"] for r in skipped] == [h.leaker]
    reason = skipped[0]["reason"]
    assert "group 'api'" in reason and f"move {h.built.target_group_arns[1]} into group 'web'" in reason
    assert not h.lock_held()


def test_a_leaker_only_behind_its_own_groups_target_group_is_healed(harness: Any) -> None:
    h = harness()
    https, http = two_groups(h)
    only_in(h, h.leaker, keep=https, drop=http)
    result = h.run()
    assert outcome(result)["status"] == "remediated"
    assert requests_for(h, h.leaker).count("RebootInstances") == 1
    assert "SKIPPED_SHARED" not in h.audit_events()
    assert h.sim.target_state(h.leaker, http) is None  # never added to api's target group


def test_registered_in_the_other_groups_target_group_during_the_drain_it_is_put_back_not_rebooted(
        harness: Any) -> None:
    h = harness()
    https, result = shared_since_selection(h, "nightshift-reboot-instance")
    assert result["status"] == "FAILED"  # CapacityLost: put back, and the failed-executions alarm pages
    assert requests_for(h, h.leaker) == ["DeregisterTargets"]  # drained from HTTPS, never rebooted
    events = h.audit_events()
    assert "SKIPPED_SHARED" in events and "REBOOT_REQUESTED" not in events
    record = next(r for r in h.audit_records() if r["event"] == "SKIPPED_SHARED")
    assert record["details"]["at_step"] == "reboot"
    assert h.sim.target_state(h.leaker, https) in {"initial", "healthy"}  # back in web's target group
    assert not h.lock_held()


def test_registered_in_the_other_groups_target_group_before_a_stop_start_it_is_put_back_not_stopped(
        harness: Any) -> None:
    h = harness(broken_app(new_host_cures=True), health={"deadline_seconds": 120},
                escalation={"rungs": [{"action": "stop_start", "deadline_seconds": 900}]})
    https, http = two_groups(h)
    only_in(h, h.leaker, keep=https, drop=http)

    joins_api_before(h, "nightshift-choose-escalation", http)
    result = h.run()
    assert result["status"] == "FAILED"
    sent = requests_for(h, h.leaker)
    assert "StopInstances" not in sent and sent.count("RebootInstances") == 1
    record = next(r for r in h.audit_records() if r["event"] == "SKIPPED_SHARED")
    assert record["details"]["rung"] == "stop_start"
    assert h.sim.target_state(h.leaker, https) in {"initial", "healthy", "unhealthy"}  # registered again
    assert not h.lock_held()


def test_another_groups_deleted_target_group_does_not_stop_this_group(harness: Any) -> None:
    h = harness()
    https, _ = two_groups(h)
    gone = https.replace(https.split("/")[-1], "0123456789abcdef").replace(https.split("/")[-2], "deleted")
    h.rt.declare_groups([{**h.group, "name": "web", "target_group_arns": [https]},
                         {**group_for(h.built), "name": "api", "target_group_arns": [gone]}])
    result = h.run()
    assert outcome(result)["status"] == "remediated"
    assert requests_for(h, h.leaker).count("RebootInstances") == 1


def test_draining_from_the_other_groups_target_group_still_counts_as_serving_there(harness: Any) -> None:
    """An operator deregistered the leaker from api's target group (3600 s delay): its in-flight requests there
    drain for an hour. web must not reboot it meanwhile (found by review: draining counted as gone)."""
    h = harness()
    _, http = two_groups(h)
    h.sim.target_group(http).deregistration_delay = 3600
    h.sim.asg_deregister(h.leaker, [http], h.sim.now())
    assert h.sim.target_state(h.leaker, http) == "draining"
    result = h.run()
    assert outcome(result)["status"] == "nothing_to_do"
    assert requests_for(h, h.leaker) == []
    skipped = next(r for r in h.audit_records() if r["event"] == "SKIPPED_SHARED")
    assert "(draining)" in skipped["reason"]


def test_registered_in_the_other_groups_target_group_before_the_deregistration_nothing_is_taken_out(
        harness: Any) -> None:
    h = harness()
    https, result = shared_since_selection(h, "nightshift-deregister-instance")
    assert result["status"] == "FAILED"
    assert requests_for(h, h.leaker) == []  # not even drained from web's own target group
    record = next(r for r in h.audit_records() if r["event"] == "SKIPPED_SHARED")
    assert record["details"]["at_step"] == "deregister"
    assert h.sim.target_state(h.leaker, https) == "healthy"
    assert not h.lock_held()


def test_a_shared_leaker_is_announced_once_a_day_not_only_audited(harness: Any) -> None:
    """Passed over on every run until the groups are fixed: a person must hear of it (found by review)."""
    from tests.workflow.test_notifications import drain, listen

    h = harness()
    two_groups(h)
    early_in_a_utc_day(h.rt)
    topic_q, event_q = listen(h)
    for _ in range(3):
        assert outcome(h.run())["status"] == "nothing_to_do"
        h.rt.clock.advance(900)
    texts = [t for t in drain(h, topic_q) if "another group serves through it" in t]
    assert len(texts) == 1 and h.leaker in texts[0] and "group 'api'" in texts[0]
    details = [json.loads(b)["detail"] for b in drain(h, event_q)]
    assert [d["code"] for d in details if d.get("status") == "skipped_shared"] == ["SKIPPED_SHARED"]
    h.rt.clock.advance(86400)
    h.run()
    assert len([t for t in drain(h, topic_q) if "another group serves through it" in t]) == 1  # the next day
