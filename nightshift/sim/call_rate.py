"""AWS calls over time on the virtual clock: calls per minute, peak calls per second, percent of AWS's limit.

``CallTimeline`` is what the simulator's tally (``FleetSimulator.tally``) and the bench's meter record into: for
each operation, how many calls were made at each instant of the clock. Recording is one dict update (it is on
the hot path of every simulated AWS call); everything else is computed when read.

Windows are half-open, ``[start, start + w)``, and slide: the peak over w seconds is the most calls in any
such window, wherever it starts (not in aligned clock seconds), so 3 calls at 0.6 s and 3 at 1.2 s are a peak
of 6 in one second. The most calls in a window is always reached by a window that starts at a call, which is
how ``peak_in_window`` finds it.

Virtual time caveat: the local runtime's clock stands still while a step runs (it moves by the step's
duration once the step returns, and with the Waits), so every call one step makes shares one instant. A real
Lambda spreads them over its run time: peaks over 1 s are an upper bound of what AWS would see.

``rate_rows`` sets the calls against the documented limits (``nightshift/sim/api_limits.py``):

* ``percent_of_limit``: for a token bucket of capacity B refilled at R a second, the most a full bucket can
  admit in a window of w seconds is B + R * w; for a flat TPS limit (no bucket documented) it is TPS * w. The
  percentage is the largest, over windows of 1, 10 and 60 s, of (peak calls in the window) / (that allowance).
  100 % or more means AWS would have throttled even a bucket nobody else drew from; 50 % is the issue's
  target for Nightshift's own share.
* ``throttled``: the calls that would have found the bucket empty, replaying the timeline through the bucket
  (full at the first call, refilled continuously, throttled calls not retried). A flat TPS limit is replayed
  as a bucket of TPS tokens refilled at TPS a second (our model: AWS documents no bucket for it).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nightshift.sim.api_limits import SHARED_BUCKETS, UNDOCUMENTED, ApiLimit, SharedBucket, limit_for

WINDOWS = (1.0, 10.0, 60.0)  # seconds: the windows percent_of_limit compares

Points = Sequence[tuple[float, int]]  # (instant, calls at that instant), in time order


class CallTimeline:
    """operation -> {instant on the clock: calls}. Not locked: the simulator records under its own lock."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[str, dict[float, int]] = {}

    def record(self, operation: str, at: float, calls: int = 1) -> None:
        by_instant = self._calls.get(operation)
        if by_instant is None:
            by_instant = self._calls[operation] = {}
        by_instant[at] = by_instant.get(at, 0) + calls

    def copy(self) -> CallTimeline:
        other = CallTimeline()
        other._calls = {operation: dict(by_instant) for operation, by_instant in self._calls.items()}
        return other

    def operations(self) -> list[str]:
        return sorted(self._calls)

    def points(self, operations: str | Iterable[str], since: float | None = None,
               until: float | None = None) -> list[tuple[float, int]]:
        """(instant, calls) in time order, for one operation or several together, in ``[since, until)``."""
        names = [operations] if isinstance(operations, str) else list(operations)
        merged: dict[float, int] = {}
        for name in names:
            for at, calls in self._calls.get(name, {}).items():
                if (since is None or at >= since) and (until is None or at < until):
                    merged[at] = merged.get(at, 0) + calls
        return sorted(merged.items())

    def calls(self, operation: str, since: float | None = None, until: float | None = None) -> int:
        return sum(calls for _, calls in self.points(operation, since, until))

    def per_minute(self, operation: str, origin: float | None = None, since: float | None = None,
                   until: float | None = None) -> dict[int, int]:
        return per_minute(self.points(operation, since, until), origin)

    def peak(self, operation: str, window: float, since: float | None = None, until: float | None = None) -> int:
        return peak_in_window(self.points(operation, since, until), window)


def peak_in_window(points: Points, window: float) -> int:
    """The most calls in any half-open window ``[start, start + window)``, wherever it starts."""
    if window <= 0:
        raise ValueError(f"window must be positive seconds, got {window}")
    times = [at for at, _ in points]
    running = [0]
    for _, calls in points:
        running.append(running[-1] + calls)
    best = 0
    for i, start in enumerate(times):
        end = bisect.bisect_left(times, start + window, lo=i)
        best = max(best, running[end] - running[i])
    return best


def per_minute(points: Points, origin: float | None = None) -> dict[int, int]:
    """Calls in each whole minute since ``origin`` (default: the first call): minute index -> calls.
    Minute m is ``[origin + 60 m, origin + 60 (m + 1))``; minutes without calls are absent."""
    if not points:
        return {}
    start = points[0][0] if origin is None else origin
    minutes: dict[int, int] = {}
    for at, calls in points:
        minute = math.floor((at - start) / 60.0)
        minutes[minute] = minutes.get(minute, 0) + calls
    return minutes


def bucket_replay(points: Points, rate: float, capacity: float) -> tuple[float, int]:
    """Replay calls through a token bucket full at the first call: (fewest tokens left, calls throttled)."""
    tokens = capacity
    lowest = capacity
    throttled = 0
    previous: float | None = None
    for at, calls in points:
        if previous is not None:
            tokens = min(capacity, tokens + (at - previous) * rate)
        previous = at
        admitted = min(calls, math.floor(tokens + 1e-9))
        throttled += calls - admitted
        tokens -= admitted
        lowest = min(lowest, tokens)
    return lowest, throttled


def allowance(window: float, rate: float, burst: float | None) -> float:
    """The most calls a full bucket (or a flat TPS limit, ``burst`` None) admits in ``window`` seconds."""
    return (burst or 0.0) + rate * window


@dataclass(frozen=True)
class RateRow:
    operation: str  # an operation, or a shared bucket's name
    calls: int
    peak_per_second: int  # most calls in any 1 s window
    peak_per_10_seconds: int  # most calls in any 10 s window
    peak_per_minute: int  # most calls in any 60 s window
    documented_rate: float | None  # sustained calls a second AWS documents; None: not documented
    burst: float | None
    percent_of_limit: float | None  # see the module docstring
    window_seconds: float | None  # the window that gave percent_of_limit
    throttled: int | None  # calls a full, unshared bucket would have refused
    lowest_tokens: float | None
    source: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation, "calls": self.calls, "peak_per_second": self.peak_per_second,
            "peak_per_minute": self.peak_per_minute, "documented_rate": self.documented_rate,
            "percent_of_limit": self.percent_of_limit, "peak_per_10_seconds": self.peak_per_10_seconds,
            "burst": self.burst, "window_seconds": self.window_seconds, "throttled": self.throttled,
            "lowest_tokens": self.lowest_tokens, "source": self.source, "note": self.note,
        }


def _row(label: str, points: Points, limit: ApiLimit | SharedBucket | None, note: str) -> RateRow:
    peaks = {window: peak_in_window(points, window) for window in WINDOWS}
    calls = sum(count for _, count in points)
    if limit is None:
        return RateRow(label, calls, peaks[1.0], peaks[10.0], peaks[60.0], None, None, None, None, None, None,
                       "", note)
    rate, burst = limit.rate_per_second, limit.burst
    shares = {window: 100.0 * peaks[window] / allowance(window, rate, burst) for window in WINDOWS}
    window = max(WINDOWS, key=lambda w: shares[w])
    lowest, throttled = bucket_replay(points, rate, burst if burst is not None else rate)
    return RateRow(label, calls, peaks[1.0], peaks[10.0], peaks[60.0], rate, burst, round(shares[window], 2),
                   window, throttled, round(lowest, 3), limit.source, note or limit.note)


def rate_rows(timeline: CallTimeline, since: float | None = None, until: float | None = None,
              shared: Sequence[SharedBucket] = SHARED_BUCKETS) -> list[RateRow]:
    """One row per operation the timeline holds (in ``[since, until)``), then one per shared bucket that an
    operation drew from: peak calls per second and per minute against the documented limit."""
    rows: list[RateRow] = []
    drawn: set[str] = set()
    for operation in timeline.operations():
        points = timeline.points(operation, since, until)
        if not points:
            continue
        drawn.add(operation)
        rows.append(_row(operation, points, limit_for(operation), UNDOCUMENTED.get(operation, "")))
    for bucket in shared:
        members = sorted(op for op in drawn if bucket.covers(op))
        if members:
            rows.append(_row(bucket.name, timeline.points(members, since, until), bucket,
                             bucket.note + " Operations: " + ", ".join(members) + "."))
    return rows


def rate_table(rows: Iterable[RateRow]) -> str:
    """The rows as a Markdown table (peak calls per second and minute vs the documented limit)."""
    lines = ["| API | calls | peak / 1 s | peak / 10 s | peak / 60 s | documented limit | % of limit | throttled |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for row in rows:
        if row.documented_rate is None:
            limit, percent, throttled = "not documented", "-", "-"
        else:
            limit = (f"{row.documented_rate:g}/s" if row.burst is None
                     else f"{row.documented_rate:g}/s, bucket {row.burst:g}")
            percent = f"{row.percent_of_limit:.1f} % ({row.window_seconds:g} s)"
            throttled = str(row.throttled)
        lines.append(f"| {row.operation} | {row.calls:,} | {row.peak_per_second} | {row.peak_per_10_seconds} | "
                     f"{row.peak_per_minute} | {limit} | {percent} | {throttled} |")
    return "\n".join(lines)
