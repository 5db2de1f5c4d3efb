"""Guards that keep the design's promises checkable: no sleeping steps, a Retry on every Task."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nightshift.functions import STEP_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
ASL_FILES = sorted((ROOT / "statemachine").glob("*.asl.json"))


def tasks(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in states.items():
        if state.get("Type") == "Task":
            found.append((name, state))
        for branch in state.get("Branches", []):
            found += tasks(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found += tasks(processor["States"])
    return found


def test_no_step_sleeps() -> None:
    offenders = [f"{p}:{n}" for p in (ROOT / "steps").rglob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"(^|[^a-z_])(time\.)?sleep\(", line)]
    assert offenders == []


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_every_task_retries(path: Path) -> None:
    definition = json.loads(path.read_text())
    missing = [name for name, state in tasks(definition["States"]) if not state.get("Retry")]
    assert missing == []


def test_every_lambda_placeholder_is_a_catalogued_step_and_back() -> None:
    used = {p for path in ASL_FILES for p in re.findall(r"\$\{(\w+FunctionArn)\}", path.read_text())}
    catalogued = {f.placeholder for f in STEP_FUNCTIONS if f.placeholder}
    assert used == catalogued
    for function in STEP_FUNCTIONS:
        assert callable(function.handler())
