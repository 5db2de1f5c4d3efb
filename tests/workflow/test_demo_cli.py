"""`nightshift demo --json`: the contract the README and newcomers rely on."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from nightshift.cli import main

pytestmark = pytest.mark.workflow


def run_json(*args: str, tmp_path: Path) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--json", "--logs", str(tmp_path / "logs.jsonl"), *args])
    return code, json.loads(out.getvalue())


def test_demo_heals_the_leaking_instance_within_the_drain_signal(tmp_path: Path) -> None:
    code, result = run_json(tmp_path=tmp_path)
    assert code == 0
    assert result["status"] == "SUCCEEDED"
    assert result["scenario"] == "leak"  # the default scenario is today's demo
    assert result["instance_id"] == result["expected_instance_id"]
    assert result["lock_released"] is True
    events = [r["event"] for r in result["audit"]]  # type: ignore[union-attr]
    assert events[events.index("SELECTED"):][-1] == "HEALTHY"
    # nothing in flight + ssm (despite agent, SSH and loopback connections): a small fraction of the 300 s delay
    assert result["deregistration_delay"] == 300
    assert float(result["drain_seconds"]) <= 0.15 * 300  # type: ignore[arg-type]
    assert result["drain_ended_by"] == "ssm"
    assert float(result["lambda_seconds"]) > 0  # type: ignore[arg-type]  # reported; its size is bench's business
    assert {"name", "start", "end"} <= set(result["steps"][0])  # type: ignore[index]
    # every log line carries the execution id
    lines = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines()]
    assert lines and {line["correlation_id"] for line in lines} == {result["execution_arn"]}


def test_demo_with_never_ending_requests_waits_the_delay(tmp_path: Path) -> None:
    code, result = run_json("--inflight", "never", "--delay", "120", tmp_path=tmp_path)
    assert code == 0
    assert 120 <= float(result["drain_seconds"]) <= 120 + 15  # type: ignore[arg-type]


def documented_codes() -> set[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Audit reason codes", 1)[1].split("\n## ", 1)[0]  # the section's table rows
    return {code for row in table.splitlines() if row.startswith("| `")
            for code in re.findall(r"`([A-Z_]+)`", row.split("|")[1])}


@pytest.mark.parametrize("trigger", ["manual", "alarm", "replay"])
def test_every_audit_record_of_a_demo_has_a_documented_code_and_its_numbers(tmp_path: Path, trigger: str) -> None:
    code, result = run_json("--trigger", trigger, tmp_path=tmp_path)
    assert code == 0
    codes = documented_codes()
    assert {"SELECTED", "DRAINED", "HEALTHY", "STORM_BREAKER"} <= codes  # the table parsed
    for record in result["audit"]:  # type: ignore[union-attr]
        assert record["event"] in codes, f"{record['event']} is not in the README's reason-code table"
        assert record["details"], f"{record['event']} has no numbers behind it"
        assert record["reason"]


def test_demo_shows_the_escalation_ladder_in_an_auto_scaling_group(tmp_path: Path) -> None:
    # GIVEN a leaker whose app fails after the reboot and on a new host too, in an ASG
    code, result = run_json("--asg", "--broken-app", "nothing-cures", tmp_path=tmp_path)
    # THEN the ladder stop/starts it, then has the ASG replace it; the run succeeds and the lock is free
    assert code == 0 and result["lock_released"] is True
    assert result["outcome"]["status"] == "replaced"  # type: ignore[index]
    events = [r["event"] for r in result["audit"]]  # type: ignore[union-attr]
    ladder = {"STANDBY_ENTERED", "HEALTH_TIMED_OUT", "ESCALATING", "STOP_STARTED", "REPLACED"}
    assert [e for e in events if e in ladder] == ["STANDBY_ENTERED", "HEALTH_TIMED_OUT", "ESCALATING", "STOP_STARTED",
                                                  "HEALTH_TIMED_OUT", "ESCALATING", "REPLACED"]
