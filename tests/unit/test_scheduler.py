"""Discrete-event virtual time (nightshift/runtime/scheduler.py): concurrent waits overlap instead of adding up."""

from __future__ import annotations

import threading
import time

import pytest

from nightshift.runtime.clock import VirtualClock
from nightshift.runtime.scheduler import EventScheduler

T0 = 1_000.0


def _unit(scheduler: EventScheduler, body: list[float], woke: list[tuple[str, float]], name: str) -> threading.Thread:
    """A unit (spawned on this thread, as an execution start is) that sleeps each of ``body`` in turn. Units meant
    to start at one instant are started while this thread is a unit (``join``): otherwise the first could park and
    move the clock before the next one is spawned."""

    def run() -> None:
        try:
            for seconds in body:
                scheduler.sleep(seconds)
                woke.append((name, scheduler.clock.now()))
        finally:
            scheduler.finished()

    scheduler.spawned()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_units_waiting_300_s_at_the_same_instant_both_wake_300_s_later() -> None:
    # GIVEN two units that each wait 300 s, then 5 s, from the same instant
    scheduler = EventScheduler(VirtualClock(T0))
    woke: list[tuple[str, float]] = []
    scheduler.join()
    threads = [_unit(scheduler, [300, 5], woke, name) for name in ("a", "b")]
    scheduler.leave()
    for thread in threads:
        thread.join(5)
    # THEN the waits overlap: the clock moved by 305 s, not 610 s (the plain clock's sum)
    assert scheduler.clock.now() == T0 + 305
    assert sorted(woke) == [("a", T0 + 300), ("a", T0 + 305), ("b", T0 + 300), ("b", T0 + 305)]
    assert scheduler.idle()


def test_units_wake_in_the_order_of_their_wake_instants() -> None:
    scheduler = EventScheduler(VirtualClock(T0))
    woke: list[tuple[str, float]] = []
    scheduler.join()
    threads = [_unit(scheduler, [30], woke, "late"), _unit(scheduler, [10, 10], woke, "early")]
    scheduler.leave()
    for thread in threads:
        thread.join(5)
    assert woke == [("early", T0 + 10), ("early", T0 + 20), ("late", T0 + 30)]


def test_the_clock_stands_still_while_any_unit_is_running() -> None:
    # GIVEN a unit asleep for 60 s and another that is busy (runnable, not waiting on the clock)
    scheduler = EventScheduler(VirtualClock(T0))
    woke: list[tuple[str, float]] = []
    scheduler.join()  # this thread: the busy unit
    sleeper = _unit(scheduler, [60], woke, "sleeper")
    time.sleep(0.05)  # real time passes; virtual time must not
    # THEN nothing moved while this unit runs
    assert scheduler.clock.now() == T0 and woke == []
    # WHEN the busy unit ends, the clock jumps to the sleeper's wake instant
    scheduler.leave()
    sleeper.join(5)
    assert woke == [("sleeper", T0 + 60)]


def test_a_unit_spawned_before_the_last_one_parks_holds_the_clock_until_it_runs() -> None:
    # GIVEN a unit asleep for 60 s, and one spawned (counted) but whose thread has not started yet
    scheduler = EventScheduler(VirtualClock(T0))
    woke: list[tuple[str, float]] = []
    scheduler.spawned()
    sleeper = _unit(scheduler, [60], woke, "sleeper")
    time.sleep(0.05)
    # THEN the clock waits for it
    assert scheduler.clock.now() == T0
    # WHEN it finally runs and ends
    scheduler.finished()
    sleeper.join(5)
    assert scheduler.clock.now() == T0 + 60


def test_a_blocked_unit_lets_the_clock_move_and_runs_again_when_unblocked() -> None:
    scheduler = EventScheduler(VirtualClock(T0))
    woke: list[tuple[str, float]] = []
    scheduler.join()
    sleeper = _unit(scheduler, [45], woke, "sleeper")
    with scheduler.blocked():  # e.g. a .sync Task waiting for its child execution
        sleeper.join(5)
        assert woke == [("sleeper", T0 + 45)]
    assert scheduler.units() == (1, 0)
    scheduler.leave()
    assert scheduler.idle()


def test_wait_idle_returns_once_every_unit_has_ended() -> None:
    scheduler = EventScheduler(VirtualClock(T0))
    _unit(scheduler, [10, 20], [], "a")
    assert scheduler.wait_idle(timeout=5)
    assert scheduler.clock.now() == T0 + 30


def test_close_releases_parked_units_and_later_sleeps_advance_the_clock() -> None:
    # GIVEN a unit parked behind a busy one (it would never wake)
    scheduler = EventScheduler(VirtualClock(T0))
    woke: list[tuple[str, float]] = []
    scheduler.join()
    sleeper = _unit(scheduler, [60, 5], woke, "sleeper")
    time.sleep(0.05)
    # WHEN the scheduler closes
    scheduler.close()
    sleeper.join(5)
    # THEN the parked unit went on at once, and its next sleep moved the plain clock
    assert not sleeper.is_alive()
    assert woke == [("sleeper", T0), ("sleeper", T0 + 5)]


def test_more_units_parked_than_spawned_is_an_error() -> None:
    scheduler = EventScheduler(VirtualClock(T0))
    with pytest.raises(RuntimeError, match="more units parked or finished than were spawned"):
        scheduler.finished()
