"""Every skip code emits RemediationsSkipped (dimensioned by group and reason)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from steps import observability

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_codes() -> set[str]:
    text = README.read_text().split("## Audit reason codes", 1)[1]
    rows = [line for line in text.splitlines()[3:] if line.startswith("|")]
    return {code for row in rows for code in re.findall(r"`([A-Z_]+)`", row.split("|")[1])}


@pytest.fixture
def emitted() -> Iterator[list[dict[str, Any]]]:
    blobs: list[dict[str, Any]] = []
    observability.use_sink(lambda blob: blobs.append(json.loads(blob)))
    yield blobs
    observability.use_sink(None)


@pytest.mark.parametrize("code", sorted(c for c in readme_codes() if c.startswith("SKIPPED_")))
def test_every_skip_code_emits_remediations_skipped(code: str, emitted: list[dict[str, Any]]) -> None:
    observability.record_metrics("web", code, {})
    skipped = [b for b in emitted if "RemediationsSkipped" in b]
    assert len(skipped) == 1, f"{code} emits no RemediationsSkipped metric"
    assert skipped[0]["Group"] == "web" and skipped[0]["Reason"] == code
    assert skipped[0]["RemediationsSkipped"] in (1.0, [1.0])
