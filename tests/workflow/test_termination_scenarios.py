"""`nightshift demo --scenario scale-in|spot --json`: the termination drain shown on the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflow.test_demo_cli import run_json

pytestmark = pytest.mark.workflow


def test_the_scale_in_scenario_drains_with_heartbeats_and_completes_the_lifecycle_action(tmp_path: Path) -> None:
    code, result = run_json("--scenario", "scale-in", tmp_path=tmp_path)
    assert code == 0
    assert result["scenario"] == "scale-in" and result["status"] == "SUCCEEDED"
    assert result["lifecycle_action_completed"] is True
    assert result["requests_cut"] == 0 and result["instance_state"] == "terminated"
    # 90 s of requests in flight, a 60 s heartbeat timeout: the drain needed heartbeats and ended on the signal
    assert 90 <= float(result["drain_seconds"]) < 300 and result["drain_ended_by"] == "ssm"  # type: ignore[arg-type]
    assert int(result["heartbeats"]) >= 2  # type: ignore[call-overload]


def test_the_spot_scenario_drains_within_two_minutes(tmp_path: Path) -> None:
    code, result = run_json("--scenario", "spot", tmp_path=tmp_path)
    assert code == 0 and result["scenario"] == "spot" and result["status"] == "SUCCEEDED"
    assert float(result["drain_seconds"]) <= 120 and result["requests_cut"] == 0  # type: ignore[arg-type]
    assert "lifecycle_action_completed" not in result


def test_the_spot_scenario_reports_requests_that_could_not_finish(tmp_path: Path) -> None:
    code, result = run_json("--scenario", "spot", "--inflight", "300", tmp_path=tmp_path)
    assert code == 0 and result["status"] == "SUCCEEDED"
    assert result["drain_ended_by"] == "deadline" and int(result["requests_cut"]) > 0  # type: ignore[call-overload]
