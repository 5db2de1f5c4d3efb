"""Selection on the CloudWatch agent's real dimension sets, and a group with no metric data is never healthy.

The agent's wizard publishes every metric with InstanceId, ImageId, InstanceType (and AutoScalingGroupName in
an Auto Scaling group); CloudWatch matches a query only on the exact set. The simulator's default fleet mixes
three instance types and two AMIs, so no static dimension map could read all of it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from steps.store import audit
from tests.harness import LEAKER, MakeHarness, early_in_a_utc_day
from tests.workflow.test_notifications import drain, listen

pytestmark = pytest.mark.workflow

DAY = 86400.0


def records(h: Any, event: str) -> list[dict[str, Any]]:
    return [r for r in h.audit_records() if r["event"] == event]


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(result["output"])["outcome"]
    return out


def test_a_mixed_fleet_with_wizard_dimensions_heals_its_leaker(harness: MakeHarness) -> None:
    # GIVEN the default fleet: three instance types and two AMIs, each instance's series under its own set
    h = harness()
    types = {d["Value"] for i in h.built.instance_ids for d in h.sim.agent_dimensions(i) if d["Name"] == "InstanceType"}
    amis = {d["Value"] for i in h.built.instance_ids for d in h.sim.agent_dimensions(i) if d["Name"] == "ImageId"}
    assert len(types) == 3 and len(amis) == 2
    # WHEN a remediation runs
    result = h.run()
    # THEN it judged every instance from its own series and healed the leaker
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "remediated"
    [selected] = records(h, "SELECTED")
    assert selected["instance_id"] == h.leaker
    assert selected["details"]["instances_with_data"] == 12
    assert "NO_METRIC_DATA" not in h.audit_events()


def test_the_aggregation_dimensions_fleet_heals_its_leaker(harness: MakeHarness) -> None:
    # GIVEN the agent with aggregation_dimensions [["InstanceId"]] (two series per instance)
    h = harness(FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}, aggregate_by_instance_id=True))
    result = h.run()
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "remediated"
    [selected] = records(h, "SELECTED")
    assert selected["instance_id"] == h.leaker and selected["details"]["instances_with_data"] == 12


def test_an_auto_scaling_fleet_with_its_group_name_dimension_heals_its_leaker(harness: MakeHarness) -> None:
    spec = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}, auto_scaling=AutoScalingSpec())
    h = harness(spec, auto_scaling={"enabled": True})
    result = h.run()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert records(h, "SELECTED")[0]["instance_id"] == h.leaker


def test_a_dimension_filter_that_still_matches_keeps_working(harness: MakeHarness) -> None:
    # GIVEN a declaration from before discovery, with a static dimension: now a filter on discovered sets
    h = harness()
    leaker_type = next(d["Value"] for d in h.sim.agent_dimensions(h.leaker) if d["Name"] == "InstanceType")
    h.rt.declare_groups([{**h.group, "metric": {**h.group["metric"], "dimensions": {"InstanceType": leaker_type}}}])
    result = h.run()
    # THEN the instances of that type are judged and the leaker is healed
    assert outcome(result)["status"] == "remediated"
    [selected] = records(h, "SELECTED")
    assert selected["instance_id"] == h.leaker
    assert selected["details"]["instances_with_data"] == 4  # one type in three, of 12


def test_no_metric_data_is_audited_notified_once_a_day_and_never_healthy(harness: MakeHarness) -> None:
    # GIVEN a group whose declared dimension matches none of the series the agents publish
    h = harness()
    h.rt.declare_groups([{**h.group, "metric": {**h.group["metric"], "dimensions": {"InstanceType": "x1.32xlarge"}}}])
    topic_q, event_q = listen(h)
    # WHEN two selections run the same UTC day
    first, second = h.run(), h.run()
    # THEN both executions end no_metric_data (not nothing_to_do), and nothing was touched
    for result in (first, second):
        assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "no_metric_data"
    assert h.sim.reboots(h.leaker) == []
    assert "NOTHING_TO_DO" not in h.audit_events() and "SELECTED" not in h.audit_events()
    audited = records(h, "NO_METRIC_DATA")
    assert len(audited) == 2
    details = audited[0]["details"]
    # AND the audit says what does exist for the metric, and how many instances were evaluated
    assert details["dimension_sets_seen"] == ["ImageId,InstanceId,InstanceType"]
    assert details["instances_evaluated"] == 12 and details["instances_with_series"] == 0
    assert details["dimension_filter"] == {"InstanceType": "x1.32xlarge"}
    assert "ImageId,InstanceId,InstanceType" in audited[0]["reason"]
    # AND one SNS message and one EventBridge event were sent between the two selections
    texts = drain(h, topic_q)
    assert len(texts) == 1 and texts[0].startswith("web reports no mem_used_percent data")
    events = [json.loads(body)["detail"] for body in drain(h, event_q)]
    assert [(e["status"], e["code"], e["group"]) for e in events] == [("no_metric_data", "NO_METRIC_DATA", "web")]
    # AND the NoMetricData metric was emitted for the group, once per audit
    emitted = [b for b in h.rt.metrics if "NoMetricData" in b]
    assert len(emitted) == 2 and all(b["Group"] == "web" for b in emitted)
    # WHEN the next UTC day comes
    h.rt.clock.advance(DAY)
    assert outcome(h.run())["status"] == "no_metric_data"
    # THEN it is announced again
    assert len(drain(h, topic_q)) == 1


def test_a_notice_that_could_not_be_sent_is_sent_by_the_next_selection_that_day(harness: MakeHarness) -> None:
    # GIVEN a group with no metric data, and both channels failing the first notice (one that reached either
    # channel counts as sent: steps/aws/notifications.py)
    h = harness()
    h.rt.declare_groups([{**h.group, "metric": {**h.group["metric"], "dimensions": {"InstanceType": "x1.32xlarge"}}}])
    early_in_a_utc_day(h.rt)
    topic_q, _ = listen(h)
    h.rt.inject("sns", "Publish", "InternalError", status=500, times=1)
    h.rt.inject("eventbridge", "PutEvents", "InternalException", status=500, times=1)
    # WHEN a selection runs
    first = h.run()
    # THEN it is not failed by the notice, and nothing reached the topic
    assert first["status"] == "SUCCEEDED" and outcome(first)["status"] == "no_metric_data"
    assert drain(h, topic_q) == []
    # WHEN the next selection runs the same UTC day, THEN it sends the notice (the claim was given back)
    assert outcome(h.run())["status"] == "no_metric_data"
    assert len(drain(h, topic_q)) == 1


def test_a_metric_nobody_publishes_reports_no_data_and_the_sweep_says_no_data(harness: MakeHarness) -> None:
    # GIVEN a group whose metric name is published by nothing at all
    h = harness()
    h.rt.declare_groups([{**h.group, "metric": {**h.group["metric"], "name": "mem_used"}}])
    # WHEN the scheduled sweep runs
    result = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    summary = json.loads(result["output"])["summary"]
    # THEN the group is reported no_data, never healthy
    assert summary["groups"]["web"]["verdict"] == "no_data"
    assert summary["groups"]["web"]["outcome"] == "no_metric_data"
    assert summary["counts"] == {"no_data": 1}
    [audited] = records(h, "NO_METRIC_DATA")
    assert audited["details"]["dimension_sets_seen"] == []
    assert "none at all" in audited["reason"]
    sweep = [r for r in audit.for_group("web") if r.event == "SWEEP_RESULT"]
    assert sweep and "web no_data" in sweep[0].reason


def test_a_listing_cut_short_fails_the_selection_audited_and_touches_nothing(
        harness: MakeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from nightshift.sim import agent_dimensions
    from steps.aws import cloudwatch

    # GIVEN a group larger than the per-instance lookup and a listing cap of one page below what the
    # account holds (the simulator's 12 instances, two sets each: 24 series, on pages of 10)
    h = harness(FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}, aggregate_by_instance_id=True))
    monkeypatch.setattr(cloudwatch, "SMALL_GROUP", 0)
    monkeypatch.setattr(cloudwatch, "LIST_PAGE_CAP", 1)
    monkeypatch.setattr(agent_dimensions, "PAGE_SIZE", 10)
    # WHEN a remediation runs
    result = h.run()
    # THEN it fails, audited as FAILED with the error naming the metric, and nothing was touched
    assert result["status"] == "FAILED"
    assert h.sim.reboots(h.leaker) == [] and h.in_service_everywhere(h.leaker) and not h.lock_held()
    assert "SELECTED" not in h.audit_events() and "NO_METRIC_DATA" not in h.audit_events()
    failed = h.audit_records()[-1]
    assert failed["event"] == "FAILED" and failed["details"]["error"] == "MetricListingTooLarge"
    assert "CWAgent/mem_used_percent" in failed["reason"] and "after 1 pages" in failed["reason"]
