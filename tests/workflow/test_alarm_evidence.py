"""Alarms are evidence; a person can force (issue 16, item 3). An alarm in ALARM that names one instance chooses it
on the alarm's own evaluation, re-read at selection time; a manual start may force a named instance. Every guard
still applies, and what was sent to AWS is counted at the API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.demo import MUTATING_CALLS
from nightshift.sim import FleetSpec, InstanceSpec
from steps.core.events import StartInput
from tests.workflow.test_triggers import alarm_event, invoke_alarm

pytestmark = pytest.mark.workflow

QUIET = 3  # an instance whose memory is fine: the group's metric would never choose it


def put_alarm(h: Any, name: str, instance_id: str, state: str = "ALARM", namespace: str = "AWS/EC2",
              metric: str = "StatusCheckFailed") -> None:
    cw = h.rt.client("cloudwatch")
    cw.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName=metric, Statistic="Maximum", Period=60,
                        EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        Dimensions=[{"Name": "InstanceId", "Value": instance_id}])
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test: {state}")


def start_by_alarm(h: Any, name: str, instance_id: str) -> dict[str, Any]:
    outcome = invoke_alarm(alarm_event(name, instance_id, at="2026-11-23T03:00:00.000+0000"))
    assert outcome["started"] is True
    return h.rt.wait(outcome["execution_arn"], timeout=300)


def selected(h: Any) -> dict[str, Any]:
    return next(r for r in h.audit_records() if r["event"] == "SELECTED")


def mutating(h: Any) -> dict[str, int]:
    calls = h.sim.api_calls()
    return {name: calls.get(name, 0) for name in MUTATING_CALLS if calls.get(name, 0)}


def test_a_status_check_alarm_heals_an_instance_whose_metric_is_fine(harness: Any) -> None:
    h = harness()
    quiet = h.built.instance_ids[QUIET]
    put_alarm(h, "web-status", quiet)
    result = start_by_alarm(h, "web-status", quiet)
    assert result["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert (chosen["instance_id"], chosen["details"]["criterion"]) == (quiet, "alarm")
    assert chosen["details"]["alarm"] == "web-status" and chosen["details"]["alarm_state"] == "ALARM"
    assert len(h.sim.reboots(quiet)) == 1 and not h.sim.reboots(h.leaker)
    assert h.in_service_everywhere(quiet) and not h.lock_held()


def test_a_system_status_check_alarm_goes_straight_to_stop_start(harness: Any) -> None:
    h = harness()  # the default ladder holds stop_start
    quiet = h.built.instance_ids[QUIET]
    put_alarm(h, "web-host", quiet, metric="StatusCheckFailed_System")
    result = start_by_alarm(h, "web-host", quiet)
    assert result["status"] == "SUCCEEDED"
    assert selected(h)["details"]["first_rung"] == "stop_start"
    calls = mutating(h)
    assert calls.get("ec2.RebootInstances", 0) == 0  # a reboot stays on the same host: never sent
    assert calls["ec2.StopInstances"] == 1 and calls["ec2.StartInstances"] == 1
    assert h.in_service_everywhere(quiet)


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_an_alarm_back_out_of_alarm_at_selection_time_starts_nothing(harness: Any, state: str) -> None:
    h = harness()
    quiet = h.built.instance_ids[QUIET]
    put_alarm(h, "web-status", quiet, state=state)  # the event said ALARM; CloudWatch says otherwise now
    result = start_by_alarm(h, "web-status", quiet)
    assert result["status"] == "SUCCEEDED"
    nothing = next(r for r in h.audit_records() if r["event"] == "NOTHING_TO_DO")
    assert f"is {state} now" in nothing["reason"] and nothing["details"]["criterion"] == "alarm"
    assert mutating(h) == {}


def test_an_alarm_that_no_longer_exists_leaves_the_judgement_to_the_groups_metric(harness: Any) -> None:
    h = harness()
    quiet = h.built.instance_ids[QUIET]  # no alarm by that name in CloudWatch: no evidence either way
    result = start_by_alarm(h, "web-deleted", quiet)
    assert result["status"] == "SUCCEEDED"
    nothing = next(r for r in h.audit_records() if r["event"] == "NOTHING_TO_DO")
    assert "above 65" in nothing["reason"]  # the metric evaluation's own verdict
    assert mutating(h) == {}


def test_an_alarm_about_another_instance_is_no_evidence_about_this_one(harness: Any) -> None:
    h = harness()
    quiet, other = h.built.instance_ids[QUIET], h.built.instance_ids[QUIET + 1]
    put_alarm(h, "web-status", other)  # in ALARM, but for another instance than the event named
    start_by_alarm(h, "web-status", quiet)
    assert "SELECTED" not in h.audit_events() and mutating(h) == {}


def test_a_forced_instance_is_healed_and_the_audit_says_who_forced_it(harness: Any) -> None:
    h = harness()
    quiet = h.built.instance_ids[QUIET]
    result = h.run(instance_id=quiet, force=True, requested_by="alice@example.com")
    assert result["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert chosen["instance_id"] == quiet
    assert chosen["details"]["criterion"] == "forced" and chosen["details"]["forced_by"] == "alice@example.com"
    assert len(h.sim.reboots(quiet)) == 1


def test_without_force_the_same_named_instance_is_judged_by_the_metric(harness: Any) -> None:
    h = harness()
    quiet = h.built.instance_ids[QUIET]
    h.run(instance_id=quiet)
    assert "SELECTED" not in h.audit_events() and mutating(h) == {}


def test_a_forced_instance_is_still_held_by_the_capacity_floor(harness: Any) -> None:
    h = harness(FleetSpec(size=6, leaking={2: InstanceSpec(leak_to_percent=85.0)}), min_healthy=6)
    quiet = h.built.instance_ids[QUIET]
    result = h.run(instance_id=quiet, force=True, requested_by="alice@example.com")
    assert json.loads(result["output"])["outcome"] == {"status": "skipped", "code": "SKIPPED_CAPACITY"}
    assert mutating(h) == {}  # no DeregisterTargets, no RebootInstances: the floor holds whoever forces


@pytest.mark.parametrize(("start", "says"), [
    ({"group": "web", "force": True}, "force: skips the metric evaluation of one named instance; add instance_id"),
    ({"group": "web", "force": True, "instance_id": "i-0123456789abcdef0", "trigger": "schedule"},
     "force: only a person starting by hand may force"),
    ({"group": "web", "force": True, "instance_id": "i-0123456789abcdef0", "trigger": "alarm"},
     "force: only a person starting by hand may force"),
    # the audit must say who forced it (issue 16, item 3): nobody is no answer
    ({"group": "web", "force": True, "instance_id": "i-0123456789abcdef0"}, "force: say who forces it"),
    ({"group": "web", "force": True, "instance_id": "i-0123456789abcdef0", "requested_by": "  "},
     "force: say who forces it"),
])
def test_force_is_refused_where_it_means_nothing_or_is_not_a_persons(start: dict[str, Any], says: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=says):
        StartInput.model_validate(start)


def test_a_force_without_an_instance_fails_validation_and_changes_nothing(harness: Any) -> None:
    h = harness()
    result = h.run(force=True, requested_by="alice@example.com")
    assert result["status"] == "FAILED" and "force" in result["cause"]
    assert mutating(h) == {}


def _math_event(name: str, first: str, second: str) -> dict[str, Any]:
    """The EventBridge event of a metric-math alarm over two instances (MAX of m1 and m2): its configuration
    lists both queries, each with its own InstanceId (CloudWatch user guide, alarm events and EventBridge)."""
    event = alarm_event(name, first, at="2026-11-23T03:00:00.000+0000")
    query = event["detail"]["configuration"]["metrics"][0]
    event["detail"]["configuration"]["metrics"] = [
        {"id": "e1", "expression": "MAX([m1, m2])", "label": "worst", "returnData": True},
        {**query, "id": "m1", "returnData": False},
        {"id": "m2", "returnData": False, "metricStat": {**query["metricStat"], "metric": {
            **query["metricStat"]["metric"], "dimensions": {"InstanceId": second}}}}]
    return event


def test_a_metric_math_alarm_over_two_instances_names_neither(harness: Any) -> None:
    # An alarm on MAX(m1, m2) of two instances says one of them is bad, not which: it is no evidence about
    # either. It must never reboot the second one because its query was listed last.
    h = harness()
    quiet, other = h.built.instance_ids[QUIET], h.built.instance_ids[QUIET + 1]
    metric = {"Namespace": "CWAgent", "MetricName": "mem_used_percent"}
    cw = h.rt.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="web-math", EvaluationPeriods=2, Threshold=65, ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "e1", "Expression": "MAX([m1, m2])", "ReturnData": True},
                 *({"Id": qid, "ReturnData": False, "MetricStat": {
                     "Metric": {**metric, "Dimensions": [{"Name": "InstanceId", "Value": i}]},
                     "Period": 60, "Stat": "Average"}} for qid, i in (("m1", other), ("m2", quiet)))],
        Tags=[{"Key": "nightshift:group", "Value": "web"}])
    cw.set_alarm_state(AlarmName="web-math", StateValue="ALARM", StateReason="test: ALARM")
    outcome = invoke_alarm(_math_event("web-math", other, quiet))
    assert outcome["started"] is True and outcome["instance_id"] is None
    h.rt.wait(outcome["execution_arn"], timeout=300)
    assert not any(r["details"].get("criterion") == "alarm" for r in h.audit_records() if r["event"] == "SELECTED")
    assert not h.sim.reboots(quiet) and not h.sim.reboots(other)
    # the group's own criteria judged it: the leaker, by its metric, is the only instance rebooted
    assert h.sim.api_calls().get("ec2.RebootInstances", 0) == len(h.sim.reboots(h.leaker)) == 1
