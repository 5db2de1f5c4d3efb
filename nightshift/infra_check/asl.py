"""Walk Amazon States Language documents: every state, nested Map and Parallel states included."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ${Name}: what DefinitionSubstitutions fills in. ASL's own paths ($.x, $$.Execution) never use braces.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class State:
    path: str  # "Outer Map/Inner state": where a person finds it in the console's graph
    definition: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.definition.get("Type", ""))


def load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: an ASL document must be a JSON object")
    return document


def states(document: dict[str, Any], prefix: str = "") -> Iterator[State]:
    """Every state, depth first; a Map's ItemProcessor (or legacy Iterator) and Parallel's Branches too."""
    for name, definition in (document.get("States") or {}).items():
        if not isinstance(definition, dict):
            continue
        path = f"{prefix}{name}"
        yield State(path, definition)
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(definition.get(key), dict):
                yield from states(definition[key], f"{path}/")
        for index, branch in enumerate(definition.get("Branches") or []):
            if isinstance(branch, dict):
                yield from states(branch, f"{path}/branch {index}/")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def lambda_placeholders(document: dict[str, Any]) -> dict[str, list[str]]:
    """Placeholders that stand for a Lambda function -> the Task states using them.

    A Task's ``Resource`` that is a bare placeholder is a function ARN (the optimised Lambda call);
    with the ``lambda:invoke`` integration the function is ``Parameters.FunctionName``.
    """
    found: dict[str, list[str]] = {}
    for state in states(document):
        if state.type != "Task":
            continue
        resource = str(state.definition.get("Resource", ""))
        candidates: list[str] = []
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            parameters = state.definition.get("Parameters") or state.definition.get("Arguments") or {}
            candidates = list(_strings(parameters.get("FunctionName", "")))
        elif not resource.startswith("arn:aws:states:::"):
            candidates = [resource]
        for text in candidates:
            for name in placeholders(text):
                found.setdefault(name, []).append(state.path)
    return found
