"""The capacity floor is at least one healthy target unless the operator says zero is acceptable
(issue 14, item 4): a fleet whose only healthy target is the leaking one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec

pytestmark = pytest.mark.workflow
LEAKER = 1


def _only_the_leaker_healthy(h: Any) -> None:
    elbv2 = h.rt.client("elbv2")
    for i in h.built.instance_ids:
        if i != h.leaker_id:
            for tg in h.built.target_group_arns:
                elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i}])
    h.rt.clock.advance(1)
    h.setup_deregistrations = len(h.sim.deregister_requests)


def _fleet(harness: Any, **floor: Any) -> Any:
    h = harness(FleetSpec(size=3, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}), **floor)
    h.leaker_id = h.built.instance_ids[LEAKER]
    _only_the_leaker_healthy(h)
    return h


def test_zero_and_zero_percent_is_refused_and_touches_nothing(harness: Any) -> None:
    h = _fleet(harness, min_healthy=0, min_healthy_percent=0)
    result = h.run()
    assert result["status"] == "FAILED" and result["error"] == "InvalidRequest"
    assert "min_healthy_percent 0" in result["cause"] and "allow_zero_healthy" in result["cause"]
    assert not h.sim.reboot_requests(h.leaker_id) and len(h.sim.deregister_requests) == h.setup_deregistrations


def test_a_percentage_too_small_to_round_up_still_keeps_the_last_healthy_target(harness: Any) -> None:
    h = _fleet(harness, min_healthy=0, min_healthy_percent=1e-10)
    result = h.run()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["outcome"] == {"status": "skipped", "code": "SKIPPED_CAPACITY"}
    assert not h.sim.reboot_requests(h.leaker_id) and len(h.sim.deregister_requests) == h.setup_deregistrations


def test_zero_healthy_said_explicitly_is_honoured(harness: Any) -> None:
    h = _fleet(harness, min_healthy=0, min_healthy_percent=0, allow_zero_healthy=True)
    result = h.run()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["outcome"]["status"] == "remediated"
    assert len(h.sim.reboot_requests(h.leaker_id)) == 1
