"""The audit reason codes are one enumeration (steps/core/reasons.py) that the metrics, the audit store and the
README's table all follow: every skip code emits RemediationsSkipped, the store refuses an unknown code, and
the README lists exactly the enumeration's codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from steps.core import observability
from steps.core.reasons import SKIPS, Reason, reason_of

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> dict[str, list[str]]:
    """code -> the row's other cells, from the table under "## Audit reason codes"."""
    section = README.read_text().split("## Audit reason codes", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| code |") and set(lines[1]) <= set("|-")
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for code in re.findall(r"`([A-Z_]+)`", cells[0]):
            assert code not in rows, f"{code} has two rows in the README's table"
            rows[code] = cells[1:]
    return rows


@pytest.fixture
def emitted() -> Iterator[list[dict[str, Any]]]:
    blobs: list[dict[str, Any]] = []
    observability.use_sink(lambda blob: blobs.append(json.loads(blob)))
    yield blobs
    observability.use_sink(None)


def test_the_skip_codes_are_the_skipped_ones_the_storm_breaker_and_nothing_to_do() -> None:
    # Written out by hand: every SKIPPED_* code, plus the two skips that are not named so.
    assert {r.value for r in SKIPS} == {c for c in readme_rows() if c.startswith("SKIPPED_")} | {
        "STORM_BREAKER", "NOTHING_TO_DO"}


@pytest.mark.parametrize("code", sorted(SKIPS | {c for c in Reason if c.startswith("SKIPPED_")}))
def test_every_skip_code_emits_remediations_skipped(code: Reason, emitted: list[dict[str, Any]]) -> None:
    observability.record_metrics("web", code, {})
    skipped = [b for b in emitted if "RemediationsSkipped" in b]
    assert len(skipped) == 1, f"{code} emits no RemediationsSkipped metric"
    assert skipped[0]["Group"] == "web" and skipped[0]["Reason"] == code.value
    assert skipped[0]["RemediationsSkipped"] in (1.0, [1.0])
    directive = skipped[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Nightshift" and directive["Dimensions"] == [["Group", "Reason"]]


def test_other_codes_emit_no_skip_and_carry_no_reason_dimension(emitted: list[dict[str, Any]]) -> None:
    observability.record_metrics("web", Reason.HEALTHY, {"time_to_healthy_seconds": 12})
    observability.record_metrics("web", Reason.SELECTED, {})
    names = {m["Name"]: b for b in emitted for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert set(names) == {"RemediationsSucceeded", "TimeToHealthySeconds", "InstancesOutOfService"}
    assert all("Reason" not in b and b["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Group"]]
               for b in emitted)
    assert names["TimeToHealthySeconds"]["TimeToHealthySeconds"] in (12.0, [12.0])


def test_metrics_go_to_stdout_without_a_sink(capsys: pytest.CaptureFixture[str]) -> None:
    observability.use_sink(None)
    observability.record_metrics("web", Reason.SKIPPED_ASG_STATE, {})
    [line] = capsys.readouterr().out.splitlines()
    blob = json.loads(line)
    assert blob["Reason"] == "SKIPPED_ASG_STATE" and blob["Group"] == "web"


def test_the_readme_table_lists_exactly_the_enumerations_codes() -> None:
    rows = readme_rows()
    assert set(rows) == {r.value for r in Reason}, (
        f"README lacks {sorted({r.value for r in Reason} - set(rows))}, "
        f"lists unknown {sorted(set(rows) - {r.value for r in Reason})}")
    for code, cells in rows.items():
        assert len(cells) == 2 and all(cells), f"{code}: the README row needs who writes it and its details"


def test_every_code_has_a_description() -> None:
    for reason in Reason:
        assert reason.name == reason.value and len(reason.description) > 10, reason


def test_an_unknown_code_is_refused_by_name() -> None:
    assert reason_of("SKIPPED_ASG_STATE") is Reason.SKIPPED_ASG_STATE
    with pytest.raises(ValueError, match=r"unknown audit reason code 'SKIPPED_TYPO'.*steps/core/reasons\.py"):
        reason_of("SKIPPED_TYPO")


def test_the_audit_store_refuses_an_unknown_code_before_writing() -> None:
    from steps.store import audit

    entry = audit.AuditEntry(group="web", event="SKIPPED_TYPO", reason="a typo", at=0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown audit reason code 'SKIPPED_TYPO'"):
        audit.record(entry)
