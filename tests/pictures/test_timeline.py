"""The remediation timeline, drawn from a real local run: from the simulator (exact) and from AWS data
only (audit trail + execution history), read back through the SVG's data-* attributes."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSimulator, FleetSpec, InstanceSpec
from nightshift.timeline import (
    model_from_audit,
    render_timeline,
    timeline_for_execution,
    timeline_of_local_run,
    write_timeline,
)
from steps.store import audit
from tests.harness import fleet_runtime
from tests.pictures.svg_reading import NS, Picture, first, read

pytestmark = pytest.mark.workflow
LEAKER = 5
SIZE = 12


@dataclass
class Run:
    rt: LocalRuntime
    sim: FleetSimulator
    built: Any
    arn: str
    history: list[dict[str, Any]]
    records: list[dict[str, Any]]

    @property
    def leaker(self) -> str:
        return str(self.built.instance_ids[LEAKER])


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    """GIVEN one real remediation of the leaking instance, run by the real ASL in the local runtime."""
    with fleet_runtime(FleetSpec(size=SIZE, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)})) as h:
        rt, sim, built = h.rt, h.sim, h.built
        description = rt.run({"group": "web"})
        assert description["status"] == "SUCCEEDED"
        arn = description["executionArn"]
        yield Run(rt, sim, built, arn, rt.history(arn), [audit.as_dict(r) for r in audit.for_group("web")])


@pytest.fixture(scope="module")
def from_simulator(run: Run) -> Picture:
    model = timeline_of_local_run(run.sim, run.built, run.history, run.records, run.arn)
    assert model is not None
    return read(render_timeline(model))


@pytest.fixture(scope="module")
def from_aws_data(run: Run) -> Picture:
    return read(render_timeline(timeline_for_execution(run.rt.client("stepfunctions"), run.arn)))


def assert_leaves_and_rejoins_every_target_group(picture: Picture, target_groups: list[str]) -> None:
    assert sorted(picture.lanes) == sorted(target_groups)
    for arn in target_groups:
        segments = picture.lanes[arn]
        draining = first(segments, "draining")
        assert draining is not None, f"{arn}: no draining segment in {segments}"
        assert segments[0].state == "in_service" and segments[0].start == 0.0
        rebooting = first(segments, "rebooting", after=draining.end)
        assert rebooting is not None, f"{arn}: no rebooting after draining in {segments}"
        healthy = first(segments, "healthy", after=rebooting.end)
        assert healthy is not None, f"{arn}: no healthy segment after the reboot in {segments}"
        assert first(segments, "initial", after=rebooting.end) is not None
        # Segments tile the execution: each starts where the previous one ended.
        assert all(abs(a.end - b.start) < 1e-6 for a, b in itertools.pairwise(segments))


def assert_capacity_dips_by_one(picture: Picture, target_groups: list[str], lanes: dict[str, Any]) -> None:
    assert sorted(picture.capacity) == sorted(target_groups)
    for arn in target_groups:
        values = [healthy for _, healthy in picture.capacity[arn]]
        assert values[0] == SIZE and values[-1] == SIZE, values
        assert min(values) == SIZE - 1, values
        dip = next(t for t, healthy in picture.capacity[arn] if healthy == SIZE - 1)
        back = next(t for t, healthy in picture.capacity[arn] if t > dip and healthy == SIZE)
        draining = first(lanes[arn], "draining")
        healthy = first(lanes[arn], "healthy", after=draining.end)
        assert dip <= draining.start + 1e-6 and back >= healthy.start - 1e-6


# -- (b) the simulator: exact -----------------------------------------------------------------------------

def test_simulator_picture_shows_the_instance_leaving_and_rejoining_both_target_groups(
        run: Run, from_simulator: Picture) -> None:
    assert from_simulator.root.get("data-source") == "simulator"
    assert from_simulator.root.get("data-instance") == run.leaker
    assert_leaves_and_rejoins_every_target_group(from_simulator, run.built.target_group_arns)


def test_simulator_rebooting_is_when_the_os_was_really_down(run: Run, from_simulator: Picture) -> None:
    start = float(from_simulator.root.get("data-start", "nan"))
    for arn in run.built.target_group_arns:
        rebooting = first(from_simulator.lanes[arn], "rebooting")
        assert rebooting is not None
        assert not run.sim.is_up(run.leaker, start + (rebooting.start + rebooting.end) / 2)
        assert run.sim.is_up(run.leaker, start + rebooting.end + 0.01)


def test_simulator_capacity_dips_by_one_during_the_remediation(run: Run, from_simulator: Picture) -> None:
    assert_capacity_dips_by_one(from_simulator, run.built.target_group_arns, from_simulator.lanes)


def test_simulator_picture_marks_the_workflow_events_in_order(from_simulator: Picture) -> None:
    events = [event for _, event in from_simulator.markers]
    assert events == ["DEREGISTERED", "DRAINED", "REBOOT_REQUESTED", "BOOT_TIME", "REBOOTED", "REGISTERED", "HEALTHY"]


# -- (a) AWS data only: audit trail + execution history ---------------------------------------------------

def test_aws_data_picture_shows_the_instance_leaving_and_rejoining_both_target_groups(
        run: Run, from_aws_data: Picture) -> None:
    assert from_aws_data.root.get("data-source") == "audit"
    assert from_aws_data.root.get("data-execution") == run.arn
    assert_leaves_and_rejoins_every_target_group(from_aws_data, run.built.target_group_arns)


def test_aws_data_states_change_at_the_audited_moments(run: Run, from_aws_data: Picture) -> None:
    start = float(from_aws_data.root.get("data-start", "nan"))
    at = {r["event"]: r["at"] - start for r in run.records if r["execution_id"] == run.arn}
    for arn in run.built.target_group_arns:
        segments = from_aws_data.lanes[arn]
        draining, rebooting = first(segments, "draining"), first(segments, "rebooting")
        initial, healthy = first(segments, "initial"), first(segments, "healthy")
        assert draining and rebooting and initial and healthy
        assert draining.start == pytest.approx(at["DEREGISTERED"], abs=1e-3)
        assert draining.end == pytest.approx(at["DRAINED"], abs=1e-3)
        assert (rebooting.start, rebooting.end) == (pytest.approx(at["REBOOT_REQUESTED"], abs=1e-3),
                                                    pytest.approx(at["REBOOTED"], abs=1e-3))
        assert initial.start == pytest.approx(at["REGISTERED"], abs=1e-3)
        assert healthy.start == pytest.approx(at["HEALTHY"], abs=1e-3)


def test_aws_data_capacity_dips_by_one_during_the_remediation(run: Run, from_aws_data: Picture) -> None:
    assert_capacity_dips_by_one(from_aws_data, run.built.target_group_arns, from_aws_data.lanes)


def test_aws_data_reboot_happened_marker_is_the_reported_boot_time(run: Run, from_aws_data: Picture) -> None:
    start = float(from_aws_data.root.get("data-start", "nan"))
    times = dict((event, t) for t, event in from_aws_data.markers)
    (reset,) = run.sim.reboots(run.leaker)
    assert times["REBOOT_REQUESTED"] <= times["BOOT_TIME"] <= times["REBOOTED"]
    assert times["BOOT_TIME"] == pytest.approx(int(reset) - start, abs=1e-3)  # boot time is whole seconds


def test_records_of_other_executions_are_left_out(run: Run) -> None:
    # GIVEN the same group's trail with a record of another execution inside this one's window
    start = run.history[0]["timestamp"].timestamp()
    intruder = {"at": start + 1, "group": "web", "event": "DEREGISTERED", "instance_id": "i-0123456789abcdef0",
                "execution_id": run.arn + "-other", "remediation_id": "other", "trigger": "manual", "reason": "",
                "details": {"target_groups": run.built.target_group_arns}}
    # WHEN the picture is built from it
    model = model_from_audit([*run.records, intruder], run.history, execution_arn=run.arn)
    # THEN only this execution's instance and events appear
    assert model.instance_id == run.leaker
    assert [m.event for m in model.markers].count("DEREGISTERED") == 1


def test_the_picture_is_standalone_svg(run: Run, from_aws_data: Picture) -> None:
    svg = ET.tostring(from_aws_data.root, encoding="unicode")
    assert not list(from_aws_data.root.iter(f"{NS}script")) and not list(from_aws_data.root.iter(f"{NS}style"))
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", svg)
    assert "@import" not in svg and "url(" not in svg and "href" not in svg
    families = {el.get("font-family") for el in from_aws_data.root.iter(f"{NS}text")}
    assert families <= {"sans-serif", "monospace"}
    legend = {el.get("data-legend-state") for el in from_aws_data.root.iter(f"{NS}rect")} - {None}
    assert {"in_service", "draining", "rebooting", "initial", "healthy", "unhealthy"} <= legend


def test_write_timeline_writes_svg_or_an_html_page_embedding_it(run: Run, tmp_path: Path) -> None:
    model = timeline_for_execution(run.rt.client("stepfunctions"), run.arn)
    svg = write_timeline(model, tmp_path / "one.svg").read_text()
    page = write_timeline(model, tmp_path / "one.html").read_text()
    assert svg.startswith("<svg ") and ET.fromstring(svg).tag == f"{NS}svg"
    assert page.startswith("<!doctype html>") and svg in page


def test_an_execution_that_took_nothing_out_of_service_draws_no_lanes(run: Run) -> None:
    # GIVEN a second run right after the first
    second = run.rt.run({"group": "web"})
    assert second["status"] == "SUCCEEDED"
    # WHEN its picture is drawn from AWS data
    model = timeline_for_execution(run.rt.client("stepfunctions"), second["executionArn"])
    picture = read(render_timeline(model))
    # THEN nothing left service: no lanes, no capacity dip; the picture says why (the healed instance's datapoints
    # from before its reboot no longer count, so nothing is selected)
    assert picture.lanes == {} and picture.capacity == {}
    assert "no instance selected" in model.title
    assert "No instance left service" in ET.tostring(picture.root, encoding="unicode")
    assert [event for _, event in picture.markers] == ["NOTHING_TO_DO"]
