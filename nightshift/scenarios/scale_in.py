"""Scenario ``scale-in``: the Auto Scaling group scales in an instance that has a termination lifecycle hook
(heartbeat timeout 60 s); the termination drain deregisters it, drains its 90 s of in-flight requests while
heartbeats keep the hook waiting, then completes the lifecycle action with CONTINUE."""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _termination


def _scale_in(simulator: Any, instance: str) -> dict[str, Any]:
    event: dict[str, Any] = simulator.scale_in(instance)
    return event


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _termination.run(options, progress, "lifecycle", _scale_in)


def summary(result: dict[str, Any]) -> str:
    return _termination.summary(result, "Scale-in drain")
