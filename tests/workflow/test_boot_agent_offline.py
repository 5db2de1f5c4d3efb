"""Run Command while the instance reboots: SSM answers SendCommand with InvalidInstanceId while the SSM Agent
isn't running (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html, Errors).
The boot check takes that as "not yet" until its deadline; it is not an AWS failure."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.workflow

AGENT_OFFLINE = ("ssm", "SendCommand", "InvalidInstanceId",
                 "Instances [[i-0]] not in a valid state for account 123456789012")


def test_agent_offline_for_the_first_boot_polls_still_heals_with_one_reboot(harness: Any) -> None:
    # GIVEN SSM refuses the first boot-time commands as it does while the agent is not running
    h = harness(boot={"signal": "ssm", "poll_seconds": 5})
    h.rt.inject(*AGENT_OFFLINE, times=4)
    # WHEN the remediation runs
    result = h.run()
    # THEN it succeeds: exactly one RebootInstances, no restore path, healthy again everywhere
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert h.sim.api_calls()["ec2.RebootInstances"] == 1
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and len(h.sim.reboots(h.leaker)) == 1
    events = h.audit_events()
    assert "RESTORED" not in events and "BOOT_TIMED_OUT" not in events and "FAILED" not in events
    assert events[-3:] == ["REBOOTED", "REGISTERED", "HEALTHY"]
    rebooted = next(r for r in h.audit_records() if r["event"] == "REBOOTED")
    assert rebooted["details"]["confirmed_by"] == "boot_time"
    # AND the boot check did ask SSM again after the refusals (four refused, then one that ran)
    assert h.sim.api_calls()["ssm.SendCommand"] >= 1


def test_agent_never_online_times_the_boot_out_and_takes_the_restore_path(harness: Any) -> None:
    # GIVEN SSM refuses every command (the agent never comes back) and no escalation ladder
    h = harness(boot={"signal": "ssm", "poll_seconds": 10, "deadline_seconds": 120}, escalation={"rungs": []})
    h.rt.inject(*AGENT_OFFLINE)
    # WHEN the remediation runs
    result = h.run()
    # THEN the boot check gives up at its deadline (not at the first refusal), the instance is put back
    # and the execution fails (it pages)
    assert result["status"] == "FAILED"
    events = h.audit_events()
    assert "BOOT_TIMED_OUT" in events and events[-2:] == ["RESTORED", "FAILED"]
    timed_out = next(r for r in h.audit_records() if r["event"] == "BOOT_TIMED_OUT")
    assert timed_out["details"]["elapsed_seconds"] >= 120
    assert h.sim.api_calls()["ec2.RebootInstances"] == 1
    assert h.in_service_everywhere(h.leaker)
    assert not h.lock_held()
