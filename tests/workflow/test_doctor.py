"""`nightshift doctor` finds, in a fleet built to have each problem, what would make a remediation fail."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from nightshift import doctor
from nightshift.cli import main
from nightshift.runtime.runner import ACCOUNT, GROUPS_PARAMETER
from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow


def run_doctor(h: Any, group: dict[str, Any] | None = None) -> doctor.Report:
    raw = json.dumps({"groups": [group or h.group]})
    return doctor.diagnose(raw, h.rt.client, h.rt.region, ACCOUNT)


def failures(report: doctor.Report, check: str) -> list[doctor.Finding]:
    return [f for f in report.findings if f.check == check and f.status == doctor.FAIL]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_a_well_built_fleet_has_no_failure(harness: Any) -> None:
    h = harness()
    report = run_doctor(h)
    assert not report.failed, report.text()
    checks = {f.check for f in report.findings if f.status == doctor.OK}
    # every area was actually looked at, not skipped
    assert {"config", "target_group", "capacity", "tags", "ssm", "metric", "history"} <= checks, checks
    target_groups = [f for f in report.findings if f.check == "target_group"]
    assert len(target_groups) == 2 and all("deregistration delay 300 s" in f.message for f in target_groups)


def test_the_simulated_preflight_of_the_demo_passes() -> None:
    from nightshift.demo import simulated_doctor

    report = simulated_doctor()
    assert not report.failed, report.text()


def test_untagged_resources_are_found_with_the_fix(harness: Any) -> None:
    h = harness(FleetSpec(managed_tag=False, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}))
    report = run_doctor(h)
    tags = failures(report, "tags")
    assert report.failed
    assert sum(1 for f in tags if f.subject in h.built.target_group_arns) == 2
    instances = [f for f in tags if "instance(s) not tagged" in f.message]
    assert instances and "12 instance(s)" in instances[0].message
    assert all("nightshift:managed=true" in f.fix for f in tags)


def test_an_instance_without_an_online_ssm_agent_fails_the_ssm_signals(harness: Any) -> None:
    h = harness(FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, ssm_online=False)}))
    report = run_doctor(h, {**h.group, "drain": {"signal": "ssm"}, "boot": {"signal": "ssm"}})
    ssm = failures(report, "ssm")
    assert len(ssm) == 1 and h.leaker in ssm[0].message and "not managed" in ssm[0].message
    # Without any Run Command signal the agent does not matter.
    quiet = run_doctor(h, {**h.group, "drain": {"signal": "target_state"}, "boot": {"signal": "none"}})
    assert not failures(quiet, "ssm")


def test_a_capacity_floor_that_never_lets_an_instance_out(harness: Any) -> None:
    h = harness()
    report = run_doctor(h, {**h.group, "min_healthy": 12})
    capacity = failures(report, "capacity")
    assert len(capacity) == 2 and all("no instance can ever be taken out" in f.message for f in capacity)
    assert "min_healthy" in capacity[0].fix
    # 11 of 12 must stay healthy: one may go, so nothing fails.
    assert not failures(run_doctor(h, {**h.group, "min_healthy": 11}), "capacity")


def test_a_metric_nobody_publishes_is_a_failure_not_health(harness: Any) -> None:
    h = harness()
    report = run_doctor(h, {**h.group, "metric": {**h.group["metric"], "name": "mem_used"}})
    metric = failures(report, "metric")
    assert len(metric) == 1 and "for any of the 12 registered instance(s)" in metric[0].message
    assert "NO_METRIC_DATA" in metric[0].message
    assert "aggregation_dimensions" in metric[0].fix


def test_target_groups_that_do_not_exist_or_live_elsewhere(harness: Any) -> None:
    h = harness()
    real = h.built.target_group_arns[0]
    missing = real.replace(real.rsplit("/", 1)[-1], "0123456789abcdef")
    elsewhere = real.replace(":us-east-1:", ":eu-west-1:")
    report = run_doctor(h, {**h.group, "target_group_arns": [real, missing, elsewhere]})
    found = failures(report, "target_group")
    assert {f.subject for f in found} == {missing, elsewhere}
    assert any("eu-west-1" in f.message for f in found)


def test_an_auto_scaling_fleet_with_auto_scaling_disabled(harness: Any) -> None:
    h = harness(FleetSpec(auto_scaling=AutoScalingSpec(min_size=6),
                          leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}))
    assert not run_doctor(h).failed
    report = run_doctor(h, {**h.group, "auto_scaling": {"enabled": False}})
    found = failures(report, "auto_scaling")
    assert len(found) == 1 and "auto_scaling.enabled is false" in found[0].message


def test_an_invalid_declaration_is_one_failure_naming_the_field(harness: Any) -> None:
    h = harness()
    report = run_doctor(h, {**h.group, "min_healthy_percent": 120})
    assert report.failed and [f.check for f in report.findings] == ["config"]
    assert "min_healthy_percent" in report.findings[0].message


def test_a_window_that_is_never_open_is_refused(harness: Any) -> None:
    h = harness()
    report = run_doctor(h, {**h.group, "guards": {"maintenance_windows": ["daily 24:00-00:00"]}})
    assert report.failed and "open zero minutes" in report.findings[0].message


def test_the_cli_exits_non_zero_and_prints_json(harness: Any) -> None:
    h = harness(FleetSpec(managed_tag=False, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}))
    code, out, _ = cli("doctor", "--json")
    body = json.loads(out)
    assert code == 1 and body["ok"] is False and body["counts"]["fail"] >= 3
    h.rt.declare_groups([h.group])  # unchanged; the parameter is what the CLI read
    assert h.rt.client("ssm").get_parameter(Name=GROUPS_PARAMETER)["Parameter"]["Value"]


def test_the_cli_names_an_unknown_group(harness: Any) -> None:
    harness()
    code, _, err = cli("doctor", "--group", "nope")
    assert code == 2 and "unknown group 'nope'" in err and "Traceback" not in err


def test_the_cli_without_a_region_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, _, err = cli("doctor")
    assert code == 2 and "no AWS region" in err


def test_a_group_whose_worst_case_passes_the_history_budget_is_refused(harness: Any) -> None:
    h = harness()
    report = run_doctor(h, {**h.group, "drain": {"signal": "ssm", "poll_seconds": 1}})
    assert report.failed and report.findings[0].check == "config"
    assert "raise drain.poll_seconds" in report.findings[0].message
    fine = run_doctor(h)
    history = [f for f in fine.findings if f.check == "history"]
    assert len(history) == 1 and history[0].status == doctor.OK and "25,000" in history[0].message


def test_the_metric_finding_names_the_dimension_sets_the_agent_publishes(harness: Any) -> None:
    h = harness()
    metric = [f for f in run_doctor(h).findings if f.check == "metric" and f.status == doctor.OK]
    assert len(metric) == 1 and "12 of 12" in metric[0].message
    assert "ImageId" in metric[0].message and "InstanceType" in metric[0].message


def test_a_dimension_filter_that_matches_nothing_fails_as_selection_would(harness: Any) -> None:
    h = harness()
    group = {**h.group, "metric": {**h.group["metric"], "dimensions": {"InstanceType": "x1.32xlarge"}}}
    metric = failures(run_doctor(h, group), "metric")
    assert len(metric) == 1 and "matching metric.dimensions" in metric[0].message
    # and selection agrees: it finds no data either
    h.rt.declare_groups([group])
    import json as _json

    assert _json.loads(h.run()["output"])["outcome"]["status"] == "no_metric_data"


def test_a_missing_permission_is_a_finding_not_a_traceback(harness: Any) -> None:
    h = harness()
    h.rt.inject("ssm", "DescribeInstanceInformation", "AccessDeniedException", "not authorized")
    report = run_doctor(h, {**h.group, "drain": {"signal": "ssm"}})
    ssm = failures(report, "ssm")
    assert len(ssm) == 1 and ssm[0].subject == "DescribeInstanceInformation"
    assert "AccessDeniedException" in ssm[0].message and "allow DescribeInstanceInformation" in ssm[0].fix
    # the other checks still ran
    assert any(f.check == "metric" and f.status == doctor.OK for f in report.findings)


def test_a_floor_beyond_the_auto_scaling_groups_max_size_never_remediates(harness: Any) -> None:
    h = harness(FleetSpec(size=6, auto_scaling=AutoScalingSpec(min_size=1, max_size=7),
                          leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}))
    # 7 must stay healthy: 7 instances at most (MaxSize), so one can never be out, however far it scales
    beyond = [f for f in failures(run_doctor(h, {**h.group, "min_healthy": 7}), "capacity")
              if "however far it scales" in f.message]
    assert len(beyond) == 2 and all("MaxSize 7" in f.message and "below 7" in f.fix for f in beyond)
    # 6 must stay healthy: short today (6 registered), but scaling out to 7 would make room
    assert not [f for f in failures(run_doctor(h, {**h.group, "min_healthy": 6}), "capacity")
                if "however far it scales" in f.message]


def test_instances_two_groups_reach_are_reported(harness: Any) -> None:
    h = harness()
    https, http = h.built.target_group_arns
    raw = json.dumps({"groups": [{**h.group, "target_group_arns": [https]},
                                 {**h.group, "name": "api", "target_group_arns": [http]}]})
    report = doctor.diagnose(raw, h.rt.client, h.rt.region, ACCOUNT)
    overlap = [f for f in report.findings if f.check == "overlap"]
    assert len(overlap) == 1 and overlap[0].status == doctor.WARN
    assert overlap[0].subject == "groups api, web" and "12 instance(s)" in overlap[0].message
    # one group alone overlaps nothing
    assert not [f for f in run_doctor(h).findings if f.check == "overlap"]


def test_doctor_shows_what_the_select_criteria_see_now(harness: Any) -> None:
    # One instance fails its health checks (app_failing), one's instance status check is impaired.
    spec = FleetSpec(size=8, health_check_interval=30, leaking={
        2: InstanceSpec(fault="app_failing", fault_at=-600.0),
        5: InstanceSpec(fault="instance_impaired", fault_at=-600.0)})
    h = harness(spec)
    h.rt.clock.advance(120)  # two failed checks 30 s apart: unhealthy
    failing, impaired = h.built.instance_ids[2], h.built.instance_ids[5]
    group = {**h.group, "select": [{"criterion": "unhealthy_target", "for_seconds": 300},
                                   {"criterion": "status_check", "for_seconds": 300}, {"criterion": "metric"}]}
    select = [f for f in run_doctor(h, group).findings if f.check == "select"]
    warned = [f for f in select if f.status == doctor.WARN]
    targets = [f for f in warned if "fail their health checks now" in f.message]
    assert len(targets) == 2 and all(failing in f.message for f in targets)  # both target groups
    assert all("within 60 s" in f.message for f in targets)  # UnhealthyThresholdCount 2 x 30 s
    status = [f for f in warned if f.subject == "status checks"]
    assert len(status) == 1 and impaired in status[0].message and failing not in status[0].message
    # Without those criteria the group never looks: doctor says nothing about them.
    plain = [f for f in run_doctor(h).findings if f.check == "select"]
    assert [f.status for f in plain] == [doctor.OK] and plain[0].subject == "metric"


def test_doctor_warns_that_a_target_group_failing_open_refuses_every_remediation(harness: Any) -> None:
    spec = FleetSpec(size=4, health_check_interval=30, leaking={},
                     default=InstanceSpec(fault="app_failing", fault_at=-600.0))
    h = harness(spec)
    h.rt.clock.advance(120)
    fail_open = [f for f in run_doctor(h).findings if f.check == "select" and "fails open" in f.message]
    assert len(fail_open) == 2 and all("SKIPPED_FAIL_OPEN" in f.message for f in fail_open)
