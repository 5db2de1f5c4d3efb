"""Issue 14 item 3: a group lease shorter than the remediation.

With ``lock_lease_seconds: 300`` and a 600 s deregistration delay the first remediation's lease used to
expire in the middle of its drain, and a second execution took the "free" group: two instances out, two
reboots. Every poll loop now renews the lease (conditionally on owner = this execution) past its next
Wait, and validation refuses such a short lease. These tests switch validation's refusal off, so they
show the renewal alone keeps the group; tests/unit/test_lease_bound.py tests the refusal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import lock
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow

SECOND_LEAKER = 6
SPEC = FleetSpec(deregistration_delay=600, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0),
                                                    SECOND_LEAKER: InstanceSpec(leak_to_percent=80.0)})


@pytest.fixture
def short_leases_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a 300 s lease through validation (as a declaration written before the refusal existed would)."""
    try:
        from steps.domain import lease
    except ImportError:  # before the bound existed nothing refused it
        return
    monkeypatch.setattr(lease, "required_lease", lambda group: lease.LeaseNeed(0, "not checked here", ""))


def test_a_second_execution_started_mid_drain_does_not_get_the_group(harness: Any,
                                                                     short_leases_accepted: None) -> None:
    h = harness(SPEC, lock_lease_seconds=300, drain={"signal": "target_state"})
    started_at = h.rt.clock.now()
    second: list[str] = []
    first_name = "first"

    def start_second_mid_drain(name: str, event: dict[str, Any]) -> None:
        # A's drain check after its one long Wait: 600 s in, past the 300 s lease it took at acquisition.
        if (name == "nightshift-check-drain" and event["execution_id"].endswith(f":{first_name}") and not second
                and h.rt.clock.now() - started_at > 300):
            second.append(h.rt.start({"group": "web", "reason": "a second start mid-drain"}, name="second"))

    h.rt.router.before.append(start_second_mid_drain)
    first = h.rt.run({"group": "web"}, name=first_name, timeout=300)
    assert second, "the first remediation never polled its drain after its lease would have ended"
    other = h.rt.wait(second[0], timeout=300)
    # THEN the first remediated; the second found the group held and touched nothing
    assert first["status"] == "SUCCEEDED", first
    assert json.loads(first["output"])["outcome"]["status"] == "remediated"
    assert other["status"] == "SUCCEEDED", other
    assert json.loads(other["output"])["outcome"]["status"] == "skipped_locked"
    # counted at the API: one deregistration per target group and one reboot, all of the first's instance
    calls = h.sim.api_calls()
    assert calls["elbv2.DeregisterTargets"] == len(h.built.target_group_arns), calls
    assert calls["ec2.RebootInstances"] == 1, calls
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    assert not h.sim.reboot_requests(h.built.instance_ids[SECOND_LEAKER])
    assert all(h.in_service_everywhere(i) for i in h.built.instance_ids)
    assert h.audit_events().count("SKIPPED_LOCKED") == 1
    assert not h.lock_held()


def test_a_remediation_that_lost_its_group_puts_the_instance_back_and_fails(harness: Any,
                                                                            short_leases_accepted: None) -> None:
    h = harness(SPEC, lock_lease_seconds=300, drain={"signal": "target_state"})
    thief = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:took-it-over"
    taken: list[bool] = []

    def take_the_lock_mid_drain(name: str, event: dict[str, Any]) -> None:
        # Another execution took the group over (as it could once the lease ran out) while this one drained.
        if name == "nightshift-check-drain" and not taken:
            now = h.rt.clock.now()
            lock.GroupLock("web", owner=thief, acquired_at=now, expires_at=now + 7200,
                           purge_at=datetime.fromtimestamp(int(now + 7200 + 86400), UTC)).save()
            taken.append(True)

    h.rt.router.before.append(take_the_lock_mid_drain)
    result = h.run()
    assert taken
    # THEN it stops: no reboot, the instance back in every target group, the failure audited with its cause
    assert result["status"] == "FAILED", result
    assert "LockLost" in (result.get("cause") or "")
    assert h.sim.api_calls()["ec2.RebootInstances"] == 0
    assert h.in_service_everywhere(h.leaker)
    events = h.audit_events()
    assert events.index("DEREGISTERED") < events.index("LOCK_LOST") < events.index("RESTORED") < events.index("FAILED")
    lost = next(r for r in h.audit_records() if r["event"] == "LOCK_LOST")
    assert lost["details"]["holder"] == thief
    failed = next(r for r in h.audit_records() if r["event"] == "FAILED")
    assert failed["details"]["error"] == "LockLost"
    # ... and the other execution's lock is left alone (the release is conditional on owner = us)
    holder = lock.holder("web")
    assert holder is not None and holder.owner == thief
