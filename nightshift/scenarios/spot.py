"""Scenario ``spot``: EC2 warns that a Spot instance is interrupted in two minutes; the termination drain
deregisters it at once and drains it for what is left of the two minutes (no lifecycle action to complete).
``--inflight 300`` shows requests that cannot finish in time: they are reported as cut."""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _termination


def _interrupt(simulator: Any, instance: str) -> dict[str, Any]:
    return dict(simulator.spot_interrupt(instance))


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _termination.run(options, progress, "spot", _interrupt)


def summary(result: dict[str, Any]) -> str:
    return _termination.summary(result, "Spot interruption drain")
