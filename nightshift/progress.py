"""Progress lines for a running remediation: what each poll found (in flight, boot phase, health per
target group), stamped with seconds since the start. Shared by `nightshift demo` and `nightshift start`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any


def seconds_since(ts: datetime, origin: float) -> float:
    return round(ts.timestamp() - origin, 3)


# What each polling check found, from its result in the state document (ResultPath key -> summary).
CHECK_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "Check whether the drain is over": lambda r: (
        f"drain: {r.get('in_flight') if r.get('in_flight') is not None else '?'} in flight, "
        f"{r.get('quiet')} quiet reading(s), {r.get('drain_seconds', 0):.0f} s"
        + (f" -> ended by {r['ended_by']}" if r.get("done") else f", next check in {r.get('wait_seconds')} s")),
    "Check whether the instance rebooted": lambda r: (
        f"boot: {r.get('phase')} ({r.get('status')}), {r.get('boot_seconds', 0):.0f} s since the request"),
    "Check target health": lambda r: "health: " + ", ".join(
        f"{arn.split('/')[-2]}={state}" for arn, state in (r.get("states") or {}).items()),
}
RESULT_KEYS = {"Check whether the drain is over": "drain", "Check whether the instance rebooted": "boot",
               "Check target health": "health"}
QUIET_TYPES = {"ChoiceStateEntered", "PassStateEntered", "SucceedStateEntered"}


def describe(event: dict[str, Any], origin: float) -> str | None:
    """One progress line for a history event, or None for the events not worth a line."""
    stamp = f"  [+{seconds_since(event['timestamp'], origin):7.1f} s]"
    exited = event.get("stateExitedEventDetails")
    if exited and exited["name"] in CHECK_SUMMARIES:
        output = json.loads(exited.get("output") or "{}")
        return f"{stamp}   {CHECK_SUMMARIES[exited['name']](output.get(RESULT_KEYS[exited['name']]) or {})}"
    entered = event.get("stateEnteredEventDetails")
    if not entered or event.get("type") in QUIET_TYPES or entered["name"] in CHECK_SUMMARIES:
        return None
    return f"{stamp} {entered['name']}"
