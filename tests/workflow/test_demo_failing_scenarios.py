"""`nightshift demo --scenario unhealthy|impaired|hung --json`: each failing instance healed, chosen by its
criterion, by the right action; every audit record documented in the README's table."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from nightshift.cli import main
from nightshift.scenarios import SCENARIOS
from tests.workflow.test_demo_cli import documented_codes

pytestmark = pytest.mark.workflow


def run_json(scenario: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--json", "--scenario", scenario, "--logs", str(tmp_path / "logs.jsonl")])
    return code, json.loads(out.getvalue())


@pytest.mark.parametrize(("scenario", "criterion", "first_rung", "action", "reboots"), [
    ("unhealthy", "unhealthy_target", None, "reboot", 1),
    ("impaired", "status_check", "stop_start", "stop_start", 0),
    ("hung", "silent", None, "reboot", 1),
])
def test_each_failing_instance_is_healed_chosen_by_its_criterion(tmp_path: Path, scenario: str, criterion: str,
                                                                 first_rung: str | None, action: str,
                                                                 reboots: int) -> None:
    assert scenario in SCENARIOS
    code, result = run_json(scenario, tmp_path)
    assert code == 0
    assert (result["scenario"], result["status"], result["healed"]) == (scenario, "SUCCEEDED", True)
    assert (result["criterion"], result["first_rung"], result["action"]) == (criterion, first_rung, action)
    assert result["instance_id"] == result["expected_instance_id"]
    assert sum(result["reboots"].values()) == reboots and result["lock_released"] is True
    codes = documented_codes()
    for record in result["audit"]:
        assert record["event"] in codes, f"{record['event']} is not in the README's reason-code table"
        assert record["details"] and record["reason"]
    if scenario == "unhealthy":  # the hysteresis: the one run watched it first (looking every 30 s: within the gap)
        assert result["warmup"]["for_seconds"] == 120
        events = [r["event"] for r in result["audit"]]
        assert events.count("WATCHING") == 1 and "NOTHING_TO_DO" not in events
        assert events.index("WATCHING") < events.index("UNHEALTHY_TARGET")
        watching = next(r for r in result["audit"] if r["event"] == "WATCHING")["details"]
        assert watching["watch_seconds"] < watching["instances"][0]["max_gap_seconds"] == 60
        chosen = next(r for r in result["audit"] if r["event"] == "SELECTED")["details"]
        assert chosen["seconds"] >= 120 and chosen["restarted"] is False
        assert len({r["execution_id"] for r in result["audit"]}) == 1  # one run
