"""Discrete-event virtual time for concurrent executions (opt-in: ``LocalRuntime(scheduled=True)``).

Without it the virtual clock only moves forward by what each waiter asks: two executions that both Wait 300 s
at the same moment move the clock by 600 s, so concurrent executions' waits add up as if they ran one after
another (four remediations started together took 398 virtual seconds where one took 132). That is fine for a
test asserting *what* happens, and wrong for a benchmark of *how long* concurrent remediations take.

With the scheduler, time moves as in a discrete-event simulation. Each running execution is one *unit*
(moto moves an execution's work between threads, a Task's own thread, the program's worker, but only one of
them works at a time). A unit that waits (a Wait state, a Retry back-off, a Lambda step's duration) *parks*
until the clock reaches its wake instant; the clock moves only when no unit can run, straight to the
earliest wake instant, and releases every unit waking then. So two Waits of 300 s started at the same instant
both end 300 s later, and while any unit is doing work (a handler running) the clock stands still.

A unit is counted from the moment its execution is started (``spawned``, on the starting thread, before the
new thread exists, so the clock cannot move in between) until its execution's thread ends (``finished``). A
unit waiting for something other than time (a ``.sync`` Task waiting for its child execution) is ``blocked``:
not runnable, no wake instant; it becomes runnable again when the thing it waits for happens, at whatever the
clock says then. A caller that is not an execution (a benchmark's schedule, on the main thread) can ``join``
as a unit of its own to sleep in virtual time, and must ``leave`` before it waits for anything in real time.
One that starts several executions meant to start at the same instant joins first too: otherwise the first
one may park, and move the clock, before the next one is started.

``close`` releases every parked unit and turns every later ``sleep`` into a plain ``clock.advance`` (what the
runtime does without a scheduler), so a runtime can be shut down whatever state its executions are in.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from nightshift.runtime.clock import VirtualClock


@dataclass(order=True)
class _Sleeper:
    wake_at: float
    order: int
    event: threading.Event = field(compare=False)


class EventScheduler:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._runnable = 0
        self._parked: list[_Sleeper] = []
        self._order = 0
        self._closed = False
        self._idle = threading.Condition(self._lock)
        self.spawned_units = 0  # every unit ever spawned (a caller may wait for "one more started")

    # -- units ------------------------------------------------------------------------------------
    def spawned(self) -> None:
        """A unit that is about to start (call on the starting thread, before the unit's thread runs)."""
        with self._lock:
            self._runnable += 1
            self.spawned_units += 1

    def finished(self) -> None:
        """A unit ended for good."""
        with self._lock:
            self._runnable -= 1
            self._move_if_nobody_runs()

    def join(self) -> None:
        """The calling thread becomes a unit (it may then ``sleep`` in virtual time)."""
        self.spawned()

    def leave(self) -> None:
        self.finished()

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """The unit waits for something other than time: the clock may move meanwhile."""
        with self._lock:
            closed = self._closed
            if not closed:
                self._runnable -= 1
                self._move_if_nobody_runs()
        try:
            yield
        finally:
            if not closed:
                with self._lock:
                    self._runnable += 1

    # -- time -------------------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Park the calling unit until the clock reaches now + ``seconds``."""
        if seconds <= 0:
            return
        with self._lock:
            if self._closed:
                self.clock.advance(seconds)
                return
            self._order += 1
            sleeper = _Sleeper(self.clock.now() + seconds, self._order, threading.Event())
            heapq.heappush(self._parked, sleeper)
            self._runnable -= 1
            self._move_if_nobody_runs()
        sleeper.event.wait()

    def _move_if_nobody_runs(self) -> None:
        """With the lock held: when no unit can run, move the clock to the earliest wake instant and release
        every unit waking then (each counted runnable again before it runs, so the clock waits for it)."""
        if self._runnable < 0:
            raise RuntimeError("EventScheduler: more units parked or finished than were spawned")
        if self._runnable > 0:
            return
        if not self._parked:
            self._idle.notify_all()
            return
        now = self.clock.advance_to(self._parked[0].wake_at)
        while self._parked and self._parked[0].wake_at <= now:
            heapq.heappop(self._parked).event.set()
            self._runnable += 1

    # -- reading ----------------------------------------------------------------------------------
    def idle(self) -> bool:
        """No unit runs and none is parked: every execution that was started has ended (or is blocked)."""
        with self._lock:
            return self._runnable == 0 and not self._parked

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block (real time) until ``idle``; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._runnable == 0 and not self._parked, timeout)

    def units(self) -> tuple[int, int]:
        """(runnable, parked) units now."""
        with self._lock:
            return self._runnable, len(self._parked)

    def close(self) -> None:
        """Release every parked unit; from now on ``sleep`` just advances the clock."""
        with self._lock:
            self._closed = True
            while self._parked:
                heapq.heappop(self._parked).event.set()
            self._idle.notify_all()
