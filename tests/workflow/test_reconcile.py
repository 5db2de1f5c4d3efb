"""A remediation that dies in the worst place (instance drained, lock held, execution gone) heals itself
on the next sweep."""

from __future__ import annotations

import json
from typing import Any

import pytest

from steps.store import lifecycle, lock
from tests.harness import CRASHED, crash_mid_drain, invoke

pytestmark = pytest.mark.workflow


def test_the_sweep_puts_back_what_a_dead_execution_left_out(harness: Any) -> None:
    h = harness()
    # GIVEN an execution that took the lock, deregistered the leaker, then vanished (never restored)
    crash_mid_drain(h)
    assert lock.holder("web").owner == CRASHED  # type: ignore[union-attr]
    # WHEN the scheduled sweep runs
    result = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    reconciled = output["reconciled"]["groups"]["web"]
    # THEN the instance was registered back, the stale lock released, and the group then healed normally
    assert reconciled == {"restored": [h.leaker], "standby_exited": [], "stale_lock_released": CRASHED}
    assert lifecycle.load("crashed-mid-drain").state == "restored"
    assert output["summary"]["groups"]["web"]["verdict"] == "remediated"
    events = h.audit_events()
    # both written at the reconcile's instant (their order within it is not kept: RECONCILED has an idempotent
    # key), and the group's own remediation after them
    reconciled_at = max(events.index("RECONCILED"), events.index("LOCK_RELEASED_STALE"))
    assert reconciled_at < len(events) - 1
    assert len(h.sim.reboots(h.leaker)) == 1
    assert all(h.sim.target_state(i, tg) == "healthy" for i in h.built.instance_ids for tg in h.built.target_group_arns)
    assert not h.lock_held()


def test_a_running_remediation_is_left_alone(harness: Any) -> None:
    h = harness(drain={"signal": "target_state"})
    # GIVEN a live remediation in its drain (the reconcile step runs while it waits)
    seen: list[dict[str, Any]] = []

    def reconcile_during_drain(name: str, *_: Any) -> None:
        if name == "nightshift-check-drain" and not seen:
            seen.append(invoke("reconcile", {"execution_id": "arn:sweep"}))

    h.rt.router.before.append(reconcile_during_drain)
    assert h.run()["status"] == "SUCCEEDED"
    # (the live remediation's instance claim is not stale either)
    assert seen == [{"groups": {"web": {"restored": [], "standby_exited": [], "stale_lock_released": None}},
                     "stale_claims_released": []}]
    assert "RECONCILED" not in h.audit_events()


def test_an_item_that_cannot_be_put_back_does_not_stop_the_rest(harness: Any) -> None:
    from steps.sweep import reconcile

    h = harness()
    # GIVEN a dead execution that left the leaker out and the lock held
    crash_mid_drain(h)
    # AND RegisterTargets refuses it (e.g. the instance was terminated since): not a transient error
    h.rt.inject("elastic-load-balancing-v2", "RegisterTargets", "InvalidTarget", "The following targets are not "
                "in a running state and cannot be registered", times=None)
    # WHEN the reconciler runs
    out = invoke(reconcile.handler, {"execution_id": "arn:aws:states:us-east-1:123456789012:execution:sweep:s1"})
    web = out["groups"]["web"]
    # THEN the failure is reported and audited, the item stays open, and the stale lock is released anyway
    assert web["failed"]["error"] == "ItemsFailed" and "InvalidTarget" in web["failed"]["cause"]
    assert web["stale_lock_released"] == CRASHED and not h.lock_held()
    assert "RECONCILE_FAILED" in h.audit_events()
    assert "crashed-mid-drain" in web["failed"]["open_remediations"]


def test_an_instance_terminated_while_left_out_is_closed_once_not_failed_every_sweep(harness: Any) -> None:
    """A dead execution left the leaker out, then it was terminated (a person, Spot, its ASG). RegisterTargets
    refuses it for ever: the reconciler finds it gone (EC2 says shutting-down/terminated), audits RECONCILED
    saying so and closes the remediation. Before, it stayed open: RECONCILE_FAILED and an announcement every
    sweep, for ever."""
    from steps.sweep import reconcile

    h = harness()
    crash_mid_drain(h)
    now = h.sim.now()
    h.sim.asg_terminate(h.leaker, now, now + 1, now + 30)
    h.rt.clock.advance(60)
    sweep = "arn:aws:states:us-east-1:123456789012:execution:sweep:s1"
    first = invoke(reconcile.handler, {"execution_id": sweep})["groups"]["web"]
    assert "failed" not in first and first["restored"] == [], first
    record = next(r for r in h.audit_records() if r["event"] == "RECONCILED")
    assert record["details"]["gone"] == "terminated" and "no longer exists" in record["reason"]
    assert lifecycle.load("crashed-mid-drain").state == "restored"
    registers = [c for c in h.rt.api_calls() if c.operation == "RegisterTargets"]
    # WHEN the next sweep runs: nothing is tried again, nothing failed
    h.rt.clock.advance(900)
    second = invoke(reconcile.handler, {"execution_id": sweep + "-2"})["groups"]["web"]
    assert "failed" not in second
    assert [c for c in h.rt.api_calls() if c.operation == "RegisterTargets"] == registers
    assert "RECONCILE_FAILED" not in h.audit_events()
