"""The group settings the pure bounds in ``history`` and ``lease`` read, as read-only protocols.

``steps.core.config.GroupConfig`` satisfies ``GroupSettings`` (mypy checks it where config calls the bounds). The
bounds name this protocol instead of ``GroupConfig`` so that ``steps.domain`` never imports ``steps.core.config``,
which imports the bounds to validate a group: no import cycle, not even a type-only one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class DrainSettings(Protocol):
    @property
    def signal(self) -> str: ...
    @property
    def poll_seconds(self) -> int: ...
    @property
    def floor_seconds(self) -> int: ...
    @property
    def margin_seconds(self) -> int: ...


class BootSettings(Protocol):
    @property
    def signal(self) -> str: ...
    @property
    def poll_seconds(self) -> int: ...
    @property
    def min_wait_seconds(self) -> int: ...
    @property
    def deadline_seconds(self) -> int: ...


class HealthSettings(Protocol):
    @property
    def poll_seconds(self) -> int: ...
    @property
    def deadline_seconds(self) -> int: ...


class AutoScalingSettings(Protocol):
    @property
    def enabled(self) -> bool: ...


class RungSettings(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def deadline_seconds(self) -> int: ...


class EscalationSettings(Protocol):
    @property
    def rungs(self) -> Sequence[RungSettings]: ...


class GroupSettings(Protocol):
    @property
    def drain(self) -> DrainSettings: ...
    @property
    def boot(self) -> BootSettings: ...
    @property
    def health(self) -> HealthSettings: ...
    @property
    def auto_scaling(self) -> AutoScalingSettings: ...
    @property
    def escalation(self) -> EscalationSettings: ...
    @property
    def alarm_queue_seconds(self) -> int: ...
