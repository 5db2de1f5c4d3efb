"""The one source of "now" for every step.

On AWS it is the wall clock. The local runtime swaps in a virtual clock so that a 300 s Wait state
costs no real time while the handlers still see time pass exactly as they would on AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch, from the active time source."""
    return _source()


def now_dt() -> datetime:
    return datetime.fromtimestamp(_source(), tz=UTC)


def use(source: Callable[[], float]) -> None:
    """Replace the time source (the local runtime and tests; never on AWS)."""
    global _source
    _source = source


def reset() -> None:
    global _source
    _source = time.time
