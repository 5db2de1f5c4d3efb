"""Virtual time for the local runtime.

Wait states, Retry back-off and the fleet simulator all read and advance this clock, so a workflow
that waits five minutes on AWS finishes in milliseconds here while every timestamp stays consistent.
"""

from __future__ import annotations

import threading
import time


class VirtualClock:
    """A monotonic, thread-safe clock that only moves when someone waits on it."""

    def __init__(self, start: float | None = None) -> None:
        # Start at the real "now" so timestamps look plausible to moto and to people reading audits.
        self._now = float(int(time.time()) if start is None else start)
        self._start = self._now
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    @property
    def start(self) -> float:
        return self._start

    def elapsed(self) -> float:
        return self.now() - self._start

    def advance(self, seconds: float) -> float:
        """Move time forward (never backward) and return the new now."""
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards by {seconds} s")
        with self._lock:
            self._now += seconds
            return self._now

    def advance_to(self, instant: float) -> float:
        with self._lock:
            self._now = max(self._now, instant)
            return self._now
