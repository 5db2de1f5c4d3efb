"""What a Lambda container reads once, at start-up: its ``Settings`` from the environment, and the PynamoDB
tables they name.

On Lambda the first ``settings()`` reads the environment (steps/store/tables.py asks when it is imported, so
before any table is used) and nothing reads it again. The local runtime and tests do not set variables
before importing anything: they ``configure`` the settings they want (or hold them for a block with
``configured``), which also points every PynamoDB model at those tables and that region.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from steps.core.config import Settings

_lock = threading.Lock()
_settings: Settings | None = None
# Called with new settings before they are used (steps/store/tables.py registers itself when imported, so
# this module needs no import of the stores: a store imported later reads ``settings()`` then).
_listeners: list[Callable[[Settings], None]] = []


def on_configure(listener: Callable[[Settings], None]) -> None:
    """Call ``listener(new)`` on every ``configure``, before the new settings are in use."""
    with _lock:
        _listeners.append(listener)


def settings() -> Settings:
    """This container's settings: read from the environment on the first call."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def configure(new: Settings) -> None:
    """Use ``new`` from now on: the steps read it, the PynamoDB models use its tables and region."""
    global _settings
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(new)  # the tables refuse three tables that are not three, before anything reads them
    with _lock:
        _settings = new


@contextmanager
def configured(new: Settings) -> Iterator[Settings]:
    """``configure(new)`` for the block, then the settings in use before it again."""
    previous = settings()
    configure(new)
    try:
        yield new
    finally:
        configure(previous)
