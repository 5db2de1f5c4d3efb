"""What the stop/start rung does next, decided from what EC2 reports. Pure.

A request counts as sent only when EC2 accepted it (the step records ``*_sent_at`` after the call
returns) or when EC2's state proves it was accepted although the answer was lost: ``stopping`` or
``stopped`` prove a stop; after a stop, ``pending`` or ``running`` prove a start. Nothing else does — so a
throttled call is sent again and an accepted one is never sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STOP = "stop"
START = "start"
WAIT = "wait"

STOPPED = "stopped"
STOP_IN_EFFECT = frozenset({"stopping", STOPPED})
START_IN_EFFECT = frozenset({"pending", "running"})


@dataclass(frozen=True)
class Progress:
    stop_sent: bool
    stopped_seen: bool
    start_sent: bool

    @classmethod
    def of(cls, facts: dict[str, Any]) -> Progress:
        return cls(bool(facts.get("stop_sent_at")), bool(facts.get("stopped_at")), bool(facts.get("start_sent_at")))


@dataclass(frozen=True)
class Plan:
    action: str  # stop | start | wait
    # Facts EC2's state proves, to record (as "now") before acting: stop_sent_at, stopped_at, start_sent_at.
    record: tuple[str, ...] = ()


def next_action(progress: Progress, state: str) -> Plan:
    record: list[str] = []
    stop_sent, stopped, start_sent = progress.stop_sent, progress.stopped_seen, progress.start_sent
    if not stop_sent and state in STOP_IN_EFFECT:
        stop_sent = True
        record.append("stop_sent_at")  # the answer was lost, the stop was not
    if stop_sent and not stopped and state == STOPPED:
        stopped = True
        record.append("stopped_at")
    if stopped and not start_sent and state in START_IN_EFFECT:
        start_sent = True
        record.append("start_sent_at")  # a lost answer again: it is starting
    if not stop_sent:
        # running (or pending, shutting down, unknown): only a running instance is worth stopping; any other
        # state is waited out (an instance still booting from something else, or a status not yet reported).
        return Plan(STOP if state == "running" else WAIT, tuple(record))
    if stopped and not start_sent and state == STOPPED:
        return Plan(START, tuple(record))
    return Plan(WAIT, tuple(record))
