"""The stop/start rung's next request, from EC2's state, as a hand-written table."""

from __future__ import annotations

import pytest

from steps.domain.replacement import mark_in_effect
from steps.domain.stop_start import START, STOP, WAIT, Progress, next_action

NOTHING = Progress(stop_sent=False, stopped_seen=False, start_sent=False)
STOP_SENT = Progress(stop_sent=True, stopped_seen=False, start_sent=False)
STOPPED = Progress(stop_sent=True, stopped_seen=True, start_sent=False)
STARTED = Progress(stop_sent=True, stopped_seen=True, start_sent=True)


@pytest.mark.parametrize(("progress", "state", "action", "recorded"), [
    (NOTHING, "running", STOP, ()),
    (NOTHING, "pending", WAIT, ()),
    (NOTHING, "unknown", WAIT, ()),
    (NOTHING, "stopping", WAIT, ("stop_sent_at",)),  # our stop was accepted, its answer lost
    (NOTHING, "stopped", START, ("stop_sent_at", "stopped_at")),
    (STOP_SENT, "running", WAIT, ()),  # EC2's view lags the accepted stop: never stop twice
    (STOP_SENT, "stopping", WAIT, ()),
    (STOP_SENT, "stopped", START, ("stopped_at",)),
    (STOPPED, "stopped", START, ()),
    (STOPPED, "pending", WAIT, ("start_sent_at",)),  # our start was accepted, its answer lost
    (STOPPED, "running", WAIT, ("start_sent_at",)),
    (STARTED, "stopped", WAIT, ()),  # never start twice
    (STARTED, "running", WAIT, ()),
])
def test_next_request(progress: Progress, state: str, action: str, recorded: tuple[str, ...]) -> None:
    plan = next_action(progress, state)
    assert (plan.action, plan.record) == (action, recorded)


class _Member:
    def __init__(self, lifecycle_state: str, health_status: str) -> None:
        self.lifecycle_state = lifecycle_state
        self.health_status = health_status


@pytest.mark.parametrize(("member", "intended", "in_effect"), [
    (_Member("InService", "HEALTHY"), True, False),  # throttled: nothing happened
    (_Member("InService", "UNHEALTHY"), True, True),
    (_Member("Terminating", "UNHEALTHY"), True, True),
    (_Member("Terminating:Wait", "HEALTHY"), True, True),
    (None, True, True),
    (_Member("InService", "UNHEALTHY"), False, False),  # someone else marked it, not us
    (None, False, False),
])
def test_whether_a_replacement_mark_took_effect(member: _Member | None, intended: bool, in_effect: bool) -> None:
    assert mark_in_effect(member, intended) is in_effect


@pytest.mark.parametrize(("facts", "progress"), [
    # the rung's lifecycle facts -> what was sent and seen; a fact counts only when it holds a time
    ({}, NOTHING),
    ({"stop_intended_at": 1000}, NOTHING),  # intended is not sent
    ({"stop_sent_at": 1000}, STOP_SENT),
    ({"stop_sent_at": 1000, "stopped_at": 1100}, STOPPED),
    ({"stop_sent_at": 1000, "stopped_at": 1100, "start_sent_at": 1200}, STARTED),
    ({"stopped_at": 1100}, Progress(stop_sent=False, stopped_seen=True, start_sent=False)),
    ({"start_sent_at": 1200}, Progress(stop_sent=False, stopped_seen=False, start_sent=True)),
    ({"stop_sent_at": None, "stopped_at": 0, "start_sent_at": None}, NOTHING),
])
def test_progress_of_the_recorded_facts(facts: dict[str, float | None], progress: Progress) -> None:
    of = Progress.of(facts)
    assert (of.stop_sent, of.stopped_seen, of.start_sent) == (progress.stop_sent, progress.stopped_seen,
                                                              progress.start_sent)
    assert all(type(flag) is bool for flag in (of.stop_sent, of.stopped_seen, of.start_sent))
