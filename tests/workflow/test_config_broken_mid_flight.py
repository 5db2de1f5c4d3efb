"""Issue 14 item 1: the groups declaration breaks (or loses the group) while an instance is out of service.

The restore path must put the instance back from what the remediation recorded (lifecycle record: target
groups, ports, Standby), without the configuration: back in every target group on the port it left, the
lifecycle record closed, the lock released, and the audit trail saying the configuration was the cause.
The reconciler must do the same for a dead execution whose group's configuration is gone.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from steps.core import groups
from steps.store import lifecycle, lock
from tests.harness import CRASHED, LEAKER, crash_mid_drain, invoke

pytestmark = pytest.mark.workflow

# Registered on ports that differ from the target groups' own, so "back on its port" is a real check.
SPEC = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}, target_ports=(8443, 8081),
                 target_group_ports=(443, 80))


def registrations(h: Any, instance_id: str) -> dict[str, list[int]]:
    """Target group ARN -> the ports the instance is registered on there, as DescribeTargetHealth tells."""
    elbv2 = h.rt.client("elbv2")
    found: dict[str, list[int]] = {}
    for tg in h.built.target_group_arns:
        described = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        found[tg] = sorted(d["Target"]["Port"] for d in described if d["Target"]["Id"] == instance_id
                           and d["TargetHealth"]["State"] not in ("draining", "unused"))
    return found


def break_config(h: Any, how: str) -> None:
    ssm = h.rt.client("ssm")
    from nightshift.runtime.runner import GROUPS_PARAMETER

    if how == "invalid":
        value = '{"groups": [{"name": "web", "target_group_arns": '  # cut short: not JSON
    elif how == "invalid_field":
        value = json.dumps({"groups": [{**h.group, "min_healthy": -1}]})
    else:  # the group is removed, another one stays
        value = json.dumps({"groups": [{**h.group, "name": "other"}]})
    ssm.put_parameter(Name=GROUPS_PARAMETER, Value=value, Type="String", Overwrite=True)
    groups.reset()


@pytest.mark.parametrize("how", ["invalid", "invalid_field", "removed"])
@pytest.mark.parametrize("step", ["nightshift-check-drain", "nightshift-check-boot"], ids=["mid-drain", "mid-boot"])
def test_a_declaration_broken_mid_flight_puts_the_instance_back_from_the_record(harness: Any, step: str,
                                                                                 how: str) -> None:
    h = harness(SPEC, drain={"signal": "target_state"})
    ports_before = registrations(h, h.leaker)
    assert all(ports_before.values()), ports_before
    broken: list[str] = []

    def break_it(name: str, *_: Any) -> None:
        if name == step and not broken:
            break_config(h, how)
            broken.append(name)

    h.rt.router.before.append(break_it)
    result = h.run()
    assert broken, "the remediation never reached the step the declaration breaks in"
    # THEN the execution fails (it pages) ...
    assert result["status"] == "FAILED", result
    assert "ConfigurationError" in (result.get("cause") or ""), result.get("cause")
    # ... the instance is back in every target group, on the port it left
    assert registrations(h, h.leaker) == ports_before
    assert h.in_service_everywhere(h.leaker)
    # ... its lifecycle record is closed, the lock released
    records = [r for r in h.audit_records() if r["event"] == "DEREGISTERED"]
    remediation_id = records[0]["remediation_id"]
    assert lifecycle.load(remediation_id).state == "restored"
    assert not h.lock_held()
    # ... and the audit trail says why: restored, then failed with the configuration as the cause
    events = h.audit_events()
    assert events.index("DEREGISTERED") < events.index("RESTORED") < events.index("FAILED")
    failed = next(r for r in h.audit_records() if r["event"] == "FAILED")
    assert failed["details"]["error"] == "ConfigurationError"
    assert sorted(failed["details"]["restored_to"]) == sorted(h.built.target_group_arns)
    assert failed["details"]["configuration"] == ("removed" if how == "removed" else "invalid")
    assert ("no longer declared" if how == "removed" else "declaration is invalid") in failed["reason"]
    restored = next(r for r in h.audit_records() if r["event"] == "RESTORED")
    assert "ConfigurationError" in restored["reason"]
    # no second reboot, and no reboot at all when it broke before the reboot
    assert len(h.sim.reboot_requests(h.leaker)) == (0 if step == "nightshift-check-drain" else 1)


def test_the_outcome_is_announced_without_the_configuration(harness: Any) -> None:
    h = harness(SPEC, drain={"signal": "target_state"})
    sent: list[dict[str, Any]] = []

    def break_it(name: str, *_: Any) -> None:
        if name == "nightshift-check-drain" and not sent:
            break_config(h, "removed")
            sent.append({})

    def announced(name: str, event: dict[str, Any], result: dict[str, Any]) -> None:
        if name == "nightshift-notify" and event["state"].get("outcome"):
            sent.append(result)

    h.rt.router.before.append(break_it)
    h.rt.router.after.append(announced)
    assert h.run()["status"] == "FAILED"
    ended = [s for s in sent if s]
    assert ended and ended[0]["sent"] == ["sns", "eventbridge"], ended
    assert "FAILED" in ended[0]["text"]


@pytest.mark.parametrize("how", ["invalid", "removed"])
def test_the_reconciler_puts_back_a_dead_executions_instance_when_its_group_is_gone(harness: Any,
                                                                                     how: str) -> None:
    h = harness(SPEC)
    ports_before = registrations(h, h.leaker)
    # GIVEN an execution that deregistered the leaker and died, and then its group's declaration broke
    crash_mid_drain(h)
    break_config(h, how)
    # WHEN the reconcile step runs
    result = invoke("reconcile", {"execution_id": "arn:sweep"})
    # THEN the instance is back on its ports, the record closed, the dead execution's lock released
    assert result["groups"]["web"]["restored"] == [h.leaker], result
    assert result["groups"]["web"]["stale_lock_released"] == CRASHED
    assert registrations(h, h.leaker) == ports_before
    assert lifecycle.load("crashed-mid-drain").state == "restored"
    assert lock.holder("web") is None
    reconciled = next(r for r in h.audit_records() if r["event"] == "RECONCILED")
    assert reconciled["instance_id"] == h.leaker
