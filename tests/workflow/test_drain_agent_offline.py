"""The ssm drain signal on an instance whose SSM agent is not online: no early end, no failure."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow


def test_an_unmanaged_instance_drains_for_the_whole_delay_and_is_still_healed(harness: Any) -> None:
    spec = FleetSpec(deregistration_delay=120, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, ssm_online=False)})
    h = harness(spec, drain={"signal": "ssm", "poll_seconds": 10, "margin_seconds": 15}, boot={"signal": "none"})
    result = h.run()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    records = h.audit_records()
    events = [r["event"] for r in records]
    # SSM refused the command (InvalidInstanceId): audited once, and never read as "nothing in flight"
    assert events.count("DRAIN_SIGNAL_UNAVAILABLE") == 1
    drained = next(r for r in records if r["event"] == "DRAINED")
    assert drained["details"]["ended_by"] in ("deadline", "target_state")
    assert float(drained["details"]["drain_seconds"]) >= 120
    assert "RESTORED" not in events and events[-1] == "HEALTHY"
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)
