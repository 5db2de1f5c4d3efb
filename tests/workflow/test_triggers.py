"""Alarm, scheduled sweep and manual start, each against the real state machines in moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import audit, lifecycle, lock
from steps.store.lifecycle import RemediationRecord
from tests.harness import group_for, invoke, runtime

pytestmark = pytest.mark.workflow


@pytest.fixture
def rt() -> Iterator[LocalRuntime]:
    with runtime() as made:
        yield made


def fleet(rt: LocalRuntime, name: str, leaking: bool) -> tuple[Any, Any, dict[str, Any]]:
    spec = FleetSpec(name=name, size=6, leaking={2: InstanceSpec(leak_to_percent=85.0)} if leaking else {})
    sim, built = rt.add_fleet(spec)
    return sim, built, group_for(built)


def alarm_event(alarm: str, instance_id: str, state: str = "ALARM", at: str = "2026-11-23T03:00:00.000+0000",
                ) -> dict[str, Any]:
    return {
        "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-11-23T03:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"],
        "detail": {
            "alarmName": alarm,
            "state": {"value": state, "reason": "Threshold Crossed: 3 datapoints [85.0, 85.0, 85.0] > 65.0",
                      "timestamp": at},
            "previousState": {"value": "OK", "reason": "ok", "timestamp": "2026-11-23T02:00:00.000+0000"},
            "configuration": {"metrics": [{"id": "m1", "metricStat": {
                "metric": {"namespace": "CWAgent", "name": "mem_used_percent",
                           "dimensions": {"InstanceId": instance_id}},
                "period": 60, "stat": "Average"}, "returnData": True}]},
        },
    }


def invoke_alarm(event: dict[str, Any]) -> dict[str, Any]:
    return invoke("alarm-trigger", event)


def executions(rt: LocalRuntime) -> list[dict[str, Any]]:
    return rt.client("stepfunctions").list_executions(stateMachineArn=rt.state_machines["remediate"])["executions"]


def test_an_alarm_starts_exactly_one_remediation_of_its_instance_even_when_delivered_five_times(
        rt: LocalRuntime) -> None:
    sim, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    event = alarm_event("nightshift-web-memory", leaker)
    outcomes = [invoke_alarm(event) for _ in range(5)]
    assert [o["started"] for o in outcomes] == [True, False, False, False, False]
    assert len({o["execution_arn"] for o in outcomes}) == 1
    result = rt.wait(outcomes[0]["execution_arn"])
    assert result["status"] == "SUCCEEDED"
    assert len(executions(rt)) == 1
    assert len(sim.reboots(leaker)) == 1
    events = [r.event for r in audit.for_group("web")]
    assert events.count("ALARM_STARTED") == 1 and events.count("ALARM_DUPLICATE") == 4
    selected = next(r for r in audit.for_group("web") if r.event == "SELECTED")
    assert selected.instance_id == leaker and selected.trigger == "alarm"


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_an_alarm_leaving_alarm_starts_nothing(rt: LocalRuntime, state: str) -> None:
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    assert invoke_alarm(alarm_event("nightshift-web-memory", built.instance_ids[2], state=state))["started"] is False
    assert executions(rt) == []


def test_an_alarm_for_an_unknown_instance_names_the_fix(rt: LocalRuntime) -> None:
    _, _, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    with pytest.raises(Exception, match="tag the alarm nightshift:group"):
        invoke_alarm(alarm_event("stray", "i-0123456789abcdef0"))
    assert executions(rt) == []


def test_a_sweep_heals_the_leaking_group_skips_the_locked_one_and_reports_each(rt: LocalRuntime) -> None:
    sims = {}
    groups = []
    for name, leaking in (("healthy", False), ("leaking", True), ("locked", True)):
        sim, built, group = fleet(rt, name, leaking)
        sims[name] = (sim, built)
        groups.append(group)
    rt.declare_groups(groups)
    # GIVEN the "locked" group's lock is held by a live execution: the sweep itself, as it happens
    sweep_name = "sweep-under-test"
    sweep_arn = rt.state_machines["sweep"].replace(":stateMachine:", ":execution:") + f":{sweep_name}"
    lock.acquire("locked", sweep_arn, rt.clock.now(), 7200, lambda arn: "RUNNING")
    result = rt.wait(rt.start({}, name=sweep_name, machine="sweep"), timeout=180)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    import json

    summary = json.loads(result["output"])["summary"]
    assert {g: v["verdict"] for g, v in summary["groups"].items()} == {
        "healthy": "healthy", "leaking": "remediated", "locked": "skipped"}
    reboots = {name: sum(len(sim.reboots(i)) for i in built.instance_ids) for name, (sim, built) in sims.items()}
    assert reboots == {"healthy": 0, "leaking": 1, "locked": 0}
    assert lock.holder("leaking") is None and lock.holder("healthy") is None


BAD_INPUTS = [
    ({"group": "nope"}, "group: unknown group 'nope'"),
    ({"group": "web", "instance_id": "i-xyz"}, "instance_id:"),
    ({"group": "web", "instance_id": "i-0123456789abcdef0"}, "not registered in any target group"),
    ({"group": "web", "force": True}, "force: skips the metric evaluation of one named instance"),
    ({}, "group: Field required"),
]


@pytest.mark.parametrize(("execution_input", "message"), BAD_INPUTS)
def test_bad_manual_inputs_fail_validation_naming_the_field_and_change_nothing(
        rt: LocalRuntime, execution_input: dict[str, Any], message: str) -> None:
    sim, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    result = rt.run(execution_input)
    assert result["status"] == "FAILED" and result["error"] == "InvalidRequest"
    assert message in result["cause"]
    history = rt.history(result["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["Validate the request"]
    assert list(audit.AuditRecord.scan()) == [] and list(RemediationRecord.scan()) == []
    assert all(sim.target_state(i, tg) == "healthy" for i in built.instance_ids for tg in built.target_group_arns)
    assert lock.holder("web") is None


def test_example_manual_inputs_are_valid(rt: LocalRuntime) -> None:
    import json
    from pathlib import Path

    from steps.core.events import StartInput

    examples = sorted(Path("statemachine/examples").glob("*.json"))
    assert examples
    for path in examples:
        StartInput.model_validate(json.loads(path.read_text()))


def test_lifecycle_record_carries_the_trigger(rt: LocalRuntime) -> None:
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    event = alarm_event("nightshift-web-memory", built.instance_ids[2], at=datetime.now(UTC).isoformat())
    arn = invoke_alarm(event)["execution_arn"]
    rt.wait(arn)
    record = lifecycle.load(arn.rsplit(":", 1)[1])
    assert record.trigger == "alarm" and record.state == "healthy"
