"""The interface every blocker shares: the facts it may read, the Block it returns, and itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason


class Facts(Protocol):
    """What blockers may read. steps/remediate/blockers.py ``Context`` reads each one through the ports the first time a
    blocker asks for it (so a fact several blockers need, like the group's audit history, is read once); tests
    pass a plain record. A blocker that needs a new kind of fact adds it here and there."""

    @property
    def now(self) -> datetime: ...
    @property
    def paused_reason(self) -> str | None: ...  # None: not paused
    @property
    def instance_tags(self) -> dict[str, str]: ...
    @property
    def alarms_in_alarm(self) -> list[str]: ...  # of the group's blocking_alarms
    @property
    def instance_reboots_at(self) -> list[float]: ...  # this instance's reboot requests
    @property
    def group_remediations_at(self) -> list[float]: ...  # the group's reboot requests
    @property
    def group_failures_at(self) -> list[float]: ...  # one per remediation that ended without healing
    # Auto Scaling: the instance's group and lifecycle state (None: in no ASG), unfinished activity there.
    @property
    def asg_group(self) -> str | None: ...
    @property
    def asg_lifecycle(self) -> str | None: ...
    @property
    def asg_activity(self) -> list[str]: ...
    @property
    def registered(self) -> int | None: ...  # instances registered in the group's target groups (None: not read)


@dataclass(frozen=True)
class Block:
    code: Reason
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)
    trips_storm_breaker: bool = False


def _none(spec: BlockerSpec) -> float:
    return 0.0


@dataclass(frozen=True)
class Blocker:
    """One blocker: a pure decision over the facts, and how far back in the audit trail its facts reach."""

    name: str
    decide: Callable[[BlockerSpec, Facts], Block | None]
    group_history_seconds: Callable[[BlockerSpec], float] = _none
    instance_history_seconds: Callable[[BlockerSpec], float] = _none


def within(times: list[float], now: float, seconds: float) -> list[float]:
    return [t for t in times if now - t < seconds]


@dataclass(frozen=True)
class FactRecord:
    """The facts as a plain record, already read (tests; anything that has them at hand)."""

    now: datetime
    paused_reason: str | None = None
    instance_tags: dict[str, str] = field(default_factory=dict)
    alarms_in_alarm: list[str] = field(default_factory=list)
    instance_reboots_at: list[float] = field(default_factory=list)
    group_remediations_at: list[float] = field(default_factory=list)
    group_failures_at: list[float] = field(default_factory=list)
    asg_group: str | None = None
    asg_lifecycle: str | None = None
    registered: int | None = None
    asg_activity: list[str] = field(default_factory=list)
