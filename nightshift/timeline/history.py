"""What the Step Functions execution history says: when the execution ran, how it ended, for which
group, and where it waited. Works on what ``GetExecutionHistory`` returns (AWS or the local runtime)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nightshift.timeline.model import WaitSpan

History = Sequence[dict[str, Any]]

_CLOSED = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionAborted": "ABORTED",
           "ExecutionTimedOut": "TIMED_OUT"}


def seconds(stamp: Any) -> float:
    """A history timestamp (datetime from boto3, ISO text or epoch number from a saved file) in seconds."""
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    if isinstance(stamp, int | float):
        return float(stamp)
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def window(history: History) -> tuple[float, float]:
    """(started, closed) of the execution; a running one ends at its latest event."""
    if not history:
        raise ValueError("empty execution history")
    times = [seconds(e["timestamp"]) for e in history]
    started = next((seconds(e["timestamp"]) for e in history if e["type"] == "ExecutionStarted"), min(times))
    closed = next((seconds(e["timestamp"]) for e in history if e["type"] in _CLOSED), max(times))
    return started, closed


def status(history: History) -> str:
    return next((_CLOSED[e["type"]] for e in history if e["type"] in _CLOSED), "RUNNING")


def execution_input(history: History) -> dict[str, Any]:
    for event in history:
        if event["type"] == "ExecutionStarted":
            try:
                value = json.loads(event.get("executionStartedEventDetails", {}).get("input") or "{}")
            except json.JSONDecodeError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _task_inputs(history: History) -> list[dict[str, Any]]:
    found = []
    for event in history:
        details = event.get("lambdaFunctionScheduledEventDetails") or {}
        try:
            value = json.loads(details.get("input") or "null")
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def execution_id(history: History) -> str | None:
    """Our Tasks pass ``$$.Execution.Id``; the history itself does not name its execution."""
    return next((str(v["execution_id"]) for v in _task_inputs(history) if v.get("execution_id")), None)


def group(history: History) -> str | None:
    """The group this execution remediates: its input, else the validated request a Task received."""
    value = execution_input(history).get("group")
    if isinstance(value, str) and value:
        return value
    for task_input in _task_inputs(history):
        request = (task_input.get("state") or {}).get("request") or {}
        if isinstance(request, dict) and request.get("group"):
            return str(request["group"])
    return None


def wait_spans(history: History) -> tuple[WaitSpan, ...]:
    """Time spent in Wait states; visits of the same Wait state with no other Wait state between them
    (one poll loop: Wait -> check -> Choice -> Wait) become one span."""
    spans: list[WaitSpan] = []
    entered: dict[str, float] = {}

    def add(name: str, start: float, end: float) -> None:
        if spans and spans[-1].name == name:
            last = spans[-1]
            spans[-1] = WaitSpan(last.start, end, name, last.visits + 1)
        else:
            spans.append(WaitSpan(start, end, name, 1))

    for event in history:
        if event["type"] == "WaitStateEntered":
            entered[event["stateEnteredEventDetails"]["name"]] = seconds(event["timestamp"])
        elif event["type"] == "WaitStateExited" and event["stateExitedEventDetails"]["name"] in entered:
            name = event["stateExitedEventDetails"]["name"]
            add(name, entered.pop(name), seconds(event["timestamp"]))
    if entered and history:  # still waiting
        for name, start in entered.items():
            add(name, start, seconds(history[-1]["timestamp"]))
    return tuple(spans)
