"""What an input claims about its origin must be true (issue 14, item 6): replay_of, trigger and alarm, one
ALARM_STARTED per alarm state change, target groups of this region and account only, and a pause that
stops a remediation already past its capacity check."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from nightshift import replay
from nightshift.sim import FleetSpec
from steps.core import groups
from steps.core.events import StartInput
from steps.core.exceptions import InvalidRequest
from steps.remediate import request_origin
from steps.store import audit, pause
from steps.store.lifecycle import RemediationRecord
from steps.triggers.alarm_trigger import execution_name
from tests.harness import Harness, group_for
from tests.workflow.test_triggers import alarm_event, invoke_alarm

pytestmark = pytest.mark.workflow


def execution_of(h: Harness, name: str) -> str:
    return h.rt.state_machines["remediate"].replace(":stateMachine:", ":execution:") + f":{name}"


def refused(h: Harness, execution_input: dict[str, Any], message: str, name: str | None = None) -> None:
    """Refused at validation, naming the field, and nothing changed: no record, no audit, no lock, no reboot."""
    audited = len(list(audit.AuditRecord.scan()))
    records = len(list(RemediationRecord.scan()))
    reboots = len(h.sim.reboot_requests(h.leaker))
    result = h.rt.run(execution_input, name=name)
    assert result["status"] == "FAILED" and result["error"] == "InvalidRequest", result
    assert message in result["cause"], result["cause"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in h.rt.history(result["executionArn"])
               if "stateEnteredEventDetails" in e]
    assert entered == ["Validate the request"]
    assert len(list(audit.AuditRecord.scan())) == audited and len(list(RemediationRecord.scan())) == records
    assert not h.lock_held() and len(h.sim.reboot_requests(h.leaker)) == reboots
    assert h.in_service_everywhere(h.leaker)


def failed_run(h: Harness) -> dict[str, Any]:
    """A remediation of web that crashed at the boot check: FAILED, replayable."""
    fired: list[str] = []

    def crash(name: str, *_: Any) -> None:
        if name == "nightshift-check-boot" and not fired:
            fired.append(name)
            raise RuntimeError("crashed")

    h.rt.router.before.append(crash)
    result = h.run()
    assert result["status"] == "FAILED"
    return result


# -- replay_of ---------------------------------------------------------------------------------------------


def test_replay_of_a_missing_execution_is_refused(harness: Any) -> None:
    h = harness()
    refused(h, {"group": "web", "trigger": "replay", "replay_of": execution_of(h, "never-ran"),
                "remediation_id": "never-ran"}, "replay_of: no execution")


def with_second_group(h: Harness) -> str:
    _, built = h.rt.add_fleet(FleetSpec(name="api", size=6))
    h.rt.declare_groups([h.group, group_for(built)])
    return "api"


def test_replay_of_another_groups_execution_is_refused(harness: Any) -> None:
    h = harness()
    with_second_group(h)
    api_run = h.rt.run({"group": "api", "dry_run": True})
    assert api_run["status"] == "SUCCEEDED"
    name = api_run["executionArn"].rsplit(":", 1)[-1]
    refused(h, {"group": "web", "trigger": "replay", "replay_of": api_run["executionArn"], "remediation_id": name},
            "replay_of: " + api_run["executionArn"] + " remediated group 'api', not 'web'")


def test_replay_of_another_state_machines_execution_is_refused(harness: Any) -> None:
    h = harness()
    sweep = h.rt.state_machines["sweep"].replace(":stateMachine:", ":execution:") + ":a-sweep"
    refused(h, {"group": "web", "trigger": "replay", "replay_of": sweep, "remediation_id": "a-sweep"},
            "replay_of: " + repr(sweep) + " is not another execution of this state machine")


def test_replay_of_a_succeeded_execution_or_under_another_remediation_is_refused(harness: Any) -> None:
    h = harness()
    done = h.run(dry_run=True)
    name = done["executionArn"].rsplit(":", 1)[-1]
    refused(h, {"group": "web", "trigger": "replay", "replay_of": done["executionArn"], "remediation_id": name},
            "is SUCCEEDED; only a FAILED, TIMED_OUT or ABORTED execution is replayed")
    failed = failed_run(h)
    h.rt.router.before.clear()
    failed_name = failed["executionArn"].rsplit(":", 1)[-1]
    refused(h, {"group": "web", "trigger": "replay", "replay_of": failed["executionArn"],
                "remediation_id": "someone-elses"},
            f"remediation_id: a replay of {failed['executionArn']} continues remediation {failed_name!r}")


@pytest.mark.parametrize(("extra", "message"), [
    ({"trigger": "replay"}, "trigger: 'replay' needs replay_of"),
    ({"replay_of": "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:x"},
     "replay_of: only a replay names the execution it replays"),
])
def test_replay_fields_go_together(harness: Any, extra: dict[str, Any], message: str) -> None:
    h = harness()
    refused(h, {"group": "web", **extra}, message)


def test_a_genuine_replay_is_accepted_and_heals(harness: Any) -> None:
    h = harness()
    failed = failed_run(h)
    h.rt.router.before.clear()
    result = replay.replay(h.rt.client("stepfunctions"), failed["executionArn"])
    assert result.how == "new"
    assert h.rt.wait(result.execution_arn)["status"] == "SUCCEEDED"
    assert len(h.sim.reboots(h.leaker)) == 1


# -- trigger and alarm ---------------------------------------------------------------------------------------

ALARM = {"name": "nightshift-web-memory", "time": "2026-11-23T03:00:00+00:00", "reason": "spoofed",
         "found_by": "tag nightshift:group"}


def test_a_console_start_claiming_the_alarm_trigger_is_refused(harness: Any) -> None:
    h = harness()
    refused(h, {"group": "web", "trigger": "alarm", "alarm": ALARM}, "trigger: 'alarm' is set only by")
    # Even under the very name the alarm trigger would use: the name proves nothing, the trigger's claim does.
    from datetime import datetime

    name = execution_name(ALARM["name"], datetime.fromisoformat(ALARM["time"]))
    refused(h, {"group": "web", "trigger": "alarm", "alarm": ALARM}, "trigger: 'alarm' is set only by", name=name)


def test_an_alarm_block_on_a_manual_start_is_refused(harness: Any) -> None:
    h = harness()
    refused(h, {"group": "web", "alarm": ALARM}, "alarm: set only by Nightshift's alarm trigger")


def test_the_alarm_trigger_still_starts_with_trigger_alarm(harness: Any) -> None:
    h = harness()
    outcome = invoke_alarm(alarm_event("nightshift-web-memory", h.leaker))
    result = h.rt.wait(outcome["execution_arn"])
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert {r["trigger"] for r in h.audit_records()} == {"alarm"}


def test_an_alarm_claim_of_one_group_does_not_prove_a_start_of_another(harness: Any) -> None:
    h = harness()
    api = with_second_group(h)
    outcome = invoke_alarm(alarm_event("nightshift-web-memory", h.leaker))
    assert h.rt.wait(outcome["execution_arn"])["status"] == "SUCCEEDED"
    # The claim names web: the same execution name claiming to remediate api is refused (checked directly:
    # Step Functions would not let a second execution take the name).
    name = outcome["execution_arn"].rsplit(":", 1)[-1]
    start = StartInput.model_validate({"group": "api", "trigger": "alarm", "alarm": ALARM})
    with pytest.raises(InvalidRequest, match="did not start"):
        request_origin.check_trigger(start, name, groups.group(api))
    # the trigger's own input for web passes; the same name with another input for web does not
    sent = json.loads(h.rt.client("stepfunctions").describe_execution(executionArn=outcome["execution_arn"])["input"])
    request_origin.check_trigger(StartInput.model_validate(sent), name, groups.group("web"))
    with pytest.raises(InvalidRequest, match="is not the one it started"):
        request_origin.check_trigger(start.model_copy(update={"group": "web"}), name, groups.group("web"))


def test_five_concurrent_deliveries_of_one_alarm_write_one_alarm_started(harness: Any) -> None:
    h = harness()
    event = alarm_event("nightshift-web-memory", h.leaker)
    barrier = threading.Barrier(5)
    outcomes: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        barrier.wait()
        try:
            outcomes.append(invoke_alarm(event))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({o["execution_arn"] for o in outcomes}) == 1
    assert sorted(o["started"] for o in outcomes) == [False, False, False, False, True]
    assert h.rt.wait(outcomes[0]["execution_arn"])["status"] == "SUCCEEDED"
    events = h.audit_events()
    assert events.count("ALARM_STARTED") == 1 and events.count("ALARM_DUPLICATE") == 4
    assert len(h.sim.reboots(h.leaker)) == 1


# -- target groups of this region and account -------------------------------------------------------------


@pytest.mark.parametrize(("index", "replace"), [(3, "eu-west-1"), (4, "210987654321")])
def test_target_groups_of_another_region_or_account_are_refused(harness: Any, index: int, replace: str) -> None:
    h = harness()
    parts = h.group["target_group_arns"][1].split(":")
    parts[index] = replace
    foreign = ":".join(parts)
    h.rt.declare_groups([dict(h.group, target_group_arns=[h.group["target_group_arns"][0], foreign])])
    refused(h, {"group": "web"}, f"group 'web': target_group_arns[1]: {foreign} is in region ")


# -- a pause after the capacity check ------------------------------------------------------------------------


def pause_before(h: Harness, function: str) -> None:
    def hook(name: str, *_: Any) -> None:
        if name == function and pause.paused("web") is None:
            pause.pause("web", "change freeze", h.rt.clock.now(), "oncall")

    h.rt.router.before.append(hook)


def test_a_pause_after_the_capacity_check_stops_the_deregistration(harness: Any) -> None:
    h = harness()
    pause_before(h, "nightshift-deregister-instance")
    result = h.run()
    assert result["status"] == "FAILED"
    events = h.audit_events()
    assert "CAPACITY_OK" in events and "SKIPPED_PAUSED" in events and "DEREGISTERED" not in events
    skipped = next(r for r in h.audit_records() if r["event"] == "SKIPPED_PAUSED")
    assert "change freeze" in skipped["reason"] and skipped["details"]["at_step"] == "deregister"
    assert h.in_service_everywhere(h.leaker) and not h.sim.reboot_requests(h.leaker)
    assert not h.lock_held()


def test_a_pause_during_the_drain_puts_the_instance_back_unrebooted(harness: Any) -> None:
    h = harness()
    pause_before(h, "nightshift-reboot-instance")
    result = h.run()
    assert result["status"] == "FAILED"
    events = h.audit_events()
    assert "DRAINED" in events and "SKIPPED_PAUSED" in events and "RESTORED" in events
    assert "REBOOT_REQUESTED" not in events and not h.sim.reboot_requests(h.leaker)
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()
