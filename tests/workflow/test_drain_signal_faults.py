"""The ssm drain signal when things go wrong: a lost SSM answer, a failing ss, a port override."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow

DRAIN = {"signal": "ssm", "poll_seconds": 10, "margin_seconds": 15}


@pytest.mark.parametrize("operation", ["SendCommand", "GetCommandInvocation"])
def test_a_lost_ssm_answer_is_retried_and_the_instance_is_healed(harness: Any, operation: str) -> None:
    # GIVEN the first drain-signal call's answer is lost (a read timeout after SSM did the work)
    spec = FleetSpec(deregistration_delay=120, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)})
    h = harness(spec, drain=DRAIN, boot={"signal": "none"})
    h.rt.inject_after("ssm", operation, times=1)
    result = h.run()
    # THEN the step's Retry sends it again (AwsUnavailable) and the remediation heals with one reboot
    assert result["status"] == "SUCCEEDED", result.get("cause")
    events = h.audit_events()
    assert "DRAINED" in events and "RESTORED" not in events and events[-1] == "HEALTHY"
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)
