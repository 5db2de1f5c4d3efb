"""The local runtime with discrete-event time (LocalRuntime(scheduled=True), nightshift/runtime/scheduler.py): the
real ASL in moto, the real handlers, concurrent remediations whose waits overlap in virtual time, as the fleet
bench (bench/fleet.py) needs to measure how long healing many instances at once takes."""

from __future__ import annotations

import io
from typing import Any

import pytest

from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import group_for

pytestmark = pytest.mark.workflow

LEAKERS = (1, 4, 7, 10)


def _heal(leakers: tuple[int, ...]) -> dict[str, Any]:
    """One start with max_in_flight 4 (the cascade starts the rest); virtual seconds until none runs."""
    spec = FleetSpec(leaking={i: InstanceSpec(leak_to_percent=85.0) for i in leakers})
    with LocalRuntime(log_stream=io.StringIO(), scheduled=True) as rt:
        sim, built = rt.add_fleet(spec)
        rt.declare_groups([group_for(built, max_in_flight=4, blockers={"storm": {"max_remediations": "50%"}})])
        assert rt.scheduler is not None
        started = rt.clock.now()
        rt.start({"group": "web", "reason": "scheduled runtime"}, name="first")
        assert rt.scheduler.wait_idle(timeout=300), "executions still running after 300 s of real time"
        sfn = rt.client("stepfunctions")
        listed = sfn.list_executions(stateMachineArn=rt.state_machines["remediate"])["executions"]
        outages = [sim.instance(built.instance_ids[i]).power.outages for i in leakers]
        return {"seconds": rt.clock.now() - started, "statuses": {e["status"] for e in listed},
                "rebooted": [len(o) for o in outages], "down": [(o[0].stops_serving_at, o[0].up_at) for o in outages],
                "min_healthy": min(sim.min_healthy_seen(tg) for tg in built.target_group_arns)}


def test_four_remediations_at_once_take_about_as_long_as_one() -> None:
    one = _heal(LEAKERS[:1])
    four = _heal(LEAKERS)
    assert one["statuses"] == four["statuses"] == {"SUCCEEDED"}
    assert four["rebooted"] == [1, 1, 1, 1]
    # THEN healing four at once took about as long as healing one (without the scheduler each execution's waits
    # move the one clock by their own length: four took 3.2x one)
    assert four["seconds"] <= 1.25 * one["seconds"], (four["seconds"], one["seconds"])
    # AND the four were down at the same time (their reboots overlap), three or four out of service at once
    latest_down = max(start for start, _ in four["down"])
    assert all(latest_down < up for _, up in four["down"])
    assert four["min_healthy"] <= 12 - 3
