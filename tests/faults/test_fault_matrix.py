"""For each Lambda Task of remediate, four kinds of fault; after every run the invariants hold:
every instance back in service, never below the minimum of healthy targets at any simulated instant,
at most one instance out of service at a time, the lock free, and every failure audited with its cause."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from steps.exceptions import AwsThrottled

STEPS = ["validate-request", "acquire-group-lock", "select-worst-instance", "check-capacity", "deregister-instance",
         "check-drain", "reboot-instance", "check-boot", "register-instance", "check-health"]
KINDS = ["throttling", "exception", "timeout", "crash-after-call"]


class LambdaTimeout(Exception):
    error_type = "Sandbox.Timedout"  # what Lambda reports when a function runs out of time


class RuntimeCrash(Exception):
    error_type = "Lambda.Unknown"  # the runtime died after the handler's AWS calls went through


class InjectedBug(Exception):
    """A deterministic bug in the step: retrying cannot help."""


def injector(kind: str, function: str) -> tuple[str, Any, list[int]]:
    calls: list[int] = []

    def hook(name: str, *_: Any) -> None:
        if name != f"nightshift-{function}":
            return
        calls.append(1)
        if kind == "throttling" and len(calls) <= 2:
            raise AwsThrottled(f"injected throttling #{len(calls)} in {function}")
        if kind == "exception":
            raise InjectedBug(f"injected bug in {function}")
        if kind == "timeout":
            raise LambdaTimeout(f"{function} timed out (injected)")
        if kind == "crash-after-call" and len(calls) == 1:
            raise RuntimeCrash(f"{function} crashed after its AWS calls (injected)")

    return ("after" if kind == "crash-after-call" else "before"), hook, calls


def required(h: Any) -> int:
    size = len(h.built.instance_ids)
    return max(int(h.group["min_healthy"]), math.ceil(size * float(h.group["min_healthy_percent"]) / 100))


def assert_invariants(h: Any) -> None:
    later = h.rt.clock.now() + 900  # every instance healthy again once health checks have run
    for instance in h.built.instance_ids:
        for tg in h.built.target_group_arns:
            assert h.sim.target_state(instance, tg) is not None, f"{instance} left out of {tg}"
            assert h.sim.target_state(instance, tg, at=later) == "healthy", f"{instance} not healthy in {tg}"
    floor = required(h)
    for point in h.sim.capacity_timeline():
        assert len(point.out_of_service) <= 1, f"two instances out of service at {point.time}"
        for tg, healthy in point.healthy.items():
            assert healthy >= floor, f"{tg} had {healthy} healthy < {floor} at {point.time}"
    assert not h.lock_held()
    assert all(len(h.sim.reboots(i)) <= 1 for i in h.built.instance_ids)
    assert all(not h.sim.reboots(i) for i in h.built.instance_ids if i != h.leaker)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("function", STEPS)
def test_fault(harness: Any, function: str, kind: str) -> None:
    h = harness()
    when, hook, calls = injector(kind, function)
    (h.rt.router.before if when == "before" else h.rt.router.after).append(hook)
    result = h.run(reason=f"{kind} in {function}")
    assert calls, f"{function} never ran"
    assert_invariants(h)
    if kind in ("throttling", "crash-after-call"):
        # transient: Retry absorbs it, and idempotent steps do not act twice
        assert result["status"] == "SUCCEEDED", result.get("cause")
        assert len(h.sim.reboots(h.leaker)) == 1
        return
    assert result["status"] == "FAILED"
    expected = "InjectedBug" if kind == "exception" else "Sandbox.Timedout"
    if function == "validate-request":
        assert result["error"] == expected and h.audit_events() == []  # nothing was touched
        return
    failed = h.audit_records()[-1]
    assert failed["event"] == "FAILED" and failed["details"]["error"] == expected
    assert function.replace("-", " ").split()[0] in failed["details"]["cause"] or expected in failed["reason"]


# The escalation ladder's Tasks: the leaker's app fails after the reboot and a new host does not cure it,
# so the ladder runs stop/start, then (in an ASG) replace, or (outside one) leave out.
LADDER_STEPS = {"choose-escalation": "replaced", "stop-start-instance": "replaced", "replace-instance": "replaced",
                "leave-out-instance": "left_out"}


def ladder_fleet(asg: bool) -> FleetSpec:
    broken = InstanceSpec(leak_to_percent=85.0, app_fails=True, new_host_cures=False)
    return FleetSpec(leaking={5: broken}, auto_scaling=AutoScalingSpec(min_size=2) if asg else None)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("function", sorted(LADDER_STEPS))
def test_fault_in_the_escalation_ladder(harness: Any, function: str, kind: str) -> None:
    expected_end = LADDER_STEPS[function]
    h = harness(ladder_fleet(asg=expected_end == "replaced"), health={"deadline_seconds": 120})
    when, hook, calls = injector(kind, function)
    (h.rt.router.before if when == "before" else h.rt.router.after).append(hook)
    result = h.run(reason=f"{kind} in {function}")
    assert calls, f"{function} never ran"
    # never two reboots, never a second stop/start, never below the floor, the lock free
    assert len(h.sim.reboots(h.leaker)) == 1
    assert [a for a, _ in h.sim.stop_start_requests(h.leaker)] in ([], ["stop", "start"])
    launched = set(h.sim.replacements()) if h.built.auto_scaling_group else set()
    floor = required(h)
    for point in h.sim.capacity_timeline():
        assert len(point.out_of_service - launched) <= 1, f"two instances out of service at {point.time}"
        assert all(healthy >= floor for healthy in point.healthy.values()), point
    assert not h.lock_held()
    if kind in ("throttling", "crash-after-call"):
        assert result["status"] == "SUCCEEDED", result.get("cause")
        assert json.loads(result["output"])["outcome"]["status"] == expected_end
        return
    assert result["status"] == "FAILED"
    failed = h.audit_records()[-1]
    assert failed["event"] == "FAILED"
    assert failed["details"]["error"] == ("InjectedBug" if kind == "exception" else "Sandbox.Timedout")
    restored = next(r for r in h.audit_records() if r["event"] == "RESTORED")
    if restored["details"]["being_replaced"]:
        assert h.sim.asg_lifecycle(h.leaker) in ("Terminating", None)  # its ASG owns it now
    else:  # back in every target group (its app is still broken: the failure pages a person)
        assert all(h.sim.target_state(h.leaker, tg) not in (None, "draining") for tg in h.built.target_group_arns)
        assert h.sim.instance_state(h.leaker) == "running"
