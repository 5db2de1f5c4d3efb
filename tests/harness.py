"""The test harness: the real remediate.asl.json in moto against a simulated fleet (shared by workflow and faults)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSimulator, FleetSpec, InstanceSpec
from steps.store import audit, lock

LEAKER = 5


@dataclass
class Harness:
    rt: LocalRuntime
    sim: FleetSimulator
    built: Any
    logs: io.StringIO
    group: dict[str, Any] = field(default_factory=dict)

    @property
    def leaker(self) -> str:
        return str(self.built.instance_ids[LEAKER])

    def run(self, **request: Any) -> dict[str, Any]:
        return self.rt.run({"group": "web", **request})

    def audit_events(self) -> list[str]:
        return [r.event for r in audit.for_group("web")]

    def audit_records(self) -> list[dict[str, Any]]:
        return [audit.as_dict(r) for r in audit.for_group("web")]

    def lock_held(self) -> bool:
        return lock.holder("web") is not None

    def in_service_everywhere(self, instance_id: str) -> bool:
        """Registered (not draining, not gone) in every target group."""
        return all(self.sim.target_state(instance_id, tg) in {"healthy", "initial"}
                   for tg in self.built.target_group_arns)


def group_for(built: Any, **overrides: Any) -> dict[str, Any]:
    group: dict[str, Any] = built.group_declaration()
    group.update({"metric": {"threshold": 65.0, "breaching_datapoints": 3, "evaluation_datapoints": 5},
                  "min_healthy": 2, "min_healthy_percent": 50,
                  "drain": {"signal": "ssm", "poll_seconds": 10, "quiet_checks": 2},
                  "boot": {"signal": "ssm"}})
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(group.get(key), dict):
            group[key] = {**group[key], **value}
        else:
            group[key] = value
    return group


CRASHED = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:crashed-mid-drain"


def call_step(function: str, state: dict[str, Any], execution_id: str = CRASHED) -> dict[str, Any]:
    """One step's handler, called directly with the state document (no state machine)."""
    from nightshift.functions import BY_NAME

    return dict(BY_NAME[f"nightshift-{function}"].handler()({"execution_id": execution_id, "state": state}, None))


def crash_mid_drain(h: Harness) -> dict[str, Any]:
    """An execution took the lock, deregistered the leaker, then vanished (never restored)."""
    from nightshift.functions import BY_NAME

    state: dict[str, Any] = BY_NAME["nightshift-validate-request"].handler()(
        {"execution_id": CRASHED, "execution_name": "crashed-mid-drain", "input": {"group": "web"}}, None)
    state["lock"] = call_step("acquire-group-lock", state)
    state["selection"] = call_step("select-worst-instance", state)
    call_step("deregister-instance", state)
    assert all(h.sim.target_state(h.leaker, tg) == "draining" for tg in h.built.target_group_arns)
    # It vanished a while ago: an owner DescribeExecution cannot find counts as dead only once its lock is older
    # than the eventual-consistency grace (steps/store/lock.py).
    from steps.store.lock import MISSING_OWNER_GRACE_SECONDS

    h.rt.clock.advance(MISSING_OWNER_GRACE_SECONDS)
    return state


MakeHarness = Callable[..., Harness]


def open_harness(spec: FleetSpec | None = None, **group_overrides: Any) -> Harness:
    """A started runtime with one fleet (by default: the leaker at 85 %) and its group declared; the caller
    closes ``harness.rt`` (``rt.__exit__``) before opening another (moto's state is process-wide)."""
    logs = io.StringIO()
    rt = LocalRuntime(log_stream=logs).__enter__()
    try:
        sim, built = rt.add_fleet(spec or FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}))
        group = group_for(built, **group_overrides)
        rt.declare_groups([group])
    except BaseException:
        rt.__exit__(None, None, None)
        raise
    return Harness(rt, sim, built, logs, group)


@pytest.fixture
def harness() -> Iterator[MakeHarness]:
    runtimes: list[LocalRuntime] = []

    def make(spec: FleetSpec | None = None, **group_overrides: Any) -> Harness:
        h = open_harness(spec, **group_overrides)
        runtimes.append(h.rt)
        return h

    yield make
    for rt in runtimes:
        rt.__exit__(None, None, None)
