"""What a remediation timeline shows, independent of where the facts came from and how it is drawn.

Times are epoch seconds on the execution's clock (the virtual clock in the local runtime); the renderer
shows them relative to ``TimelineModel.start``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The states a target group lane can show, in legend order.
IN_SERVICE = "in_service"
DRAINING = "draining"
OUT_OF_SERVICE = "out_of_service"
REBOOTING = "rebooting"
INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
LANE_STATES = (IN_SERVICE, DRAINING, REBOOTING, OUT_OF_SERVICE, INITIAL, HEALTHY, UNHEALTHY)
STATE_LABELS = {
    IN_SERVICE: "in service",
    DRAINING: "draining",
    REBOOTING: "rebooting",
    OUT_OF_SERVICE: "out of service",
    INITIAL: "initial",
    HEALTHY: "healthy",
    UNHEALTHY: "unhealthy",
}

SOURCE_SIMULATOR = "simulator"
SOURCE_AUDIT = "audit"


@dataclass(frozen=True)
class Segment:
    """The instance is in ``state`` in one target group over [start, end)."""

    start: float
    end: float
    state: str
    # True when the state was observed as it happened (the simulator); False when it is inferred from
    # when the workflow acted or looked (the audit trail).
    exact: bool


@dataclass(frozen=True)
class Lane:
    target_group: str  # ARN
    label: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class CapacityStep:
    """From ``time`` until the next step, ``healthy`` targets were healthy in the target group."""

    time: float
    healthy: int
    exact: bool


@dataclass(frozen=True)
class CapacitySeries:
    target_group: str
    label: str
    steps: tuple[CapacityStep, ...]
    required: int | None = None  # the capacity check's minimum, when known


@dataclass(frozen=True)
class Marker:
    time: float
    event: str  # audit event code, or a simulator event name
    label: str
    detail: str = ""


@dataclass(frozen=True)
class WaitSpan:
    """Consecutive visits of one Wait state (a poll loop), from the execution history."""

    start: float
    end: float
    name: str
    visits: int


@dataclass(frozen=True)
class TimelineModel:
    title: str
    source: str  # SOURCE_SIMULATOR or SOURCE_AUDIT
    start: float
    end: float
    instance_id: str | None = None
    group: str = ""
    execution_arn: str = ""
    status: str = ""
    lanes: tuple[Lane, ...] = ()
    capacity: tuple[CapacitySeries, ...] = ()
    markers: tuple[Marker, ...] = ()
    waits: tuple[WaitSpan, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def target_group_label(arn: str) -> str:
    """``…:targetgroup/web-https/54e7…`` -> ``web-https``; anything else unchanged."""
    parts = arn.split("/")
    if len(parts) >= 3 and parts[0].endswith("targetgroup"):
        return parts[1]
    return arn


def merge_segments(points: list[tuple[float, str]], end: float, exact: bool) -> tuple[Segment, ...]:
    """Sorted (time, state) changes -> segments, merging repeats and dropping zero-length ones."""
    segments: list[Segment] = []
    for index, (at, state) in enumerate(points):
        until = points[index + 1][0] if index + 1 < len(points) else end
        until = min(until, end)
        if until <= at:
            continue
        if segments and segments[-1].state == state and segments[-1].end >= at:
            segments[-1] = Segment(segments[-1].start, until, state, exact)
        else:
            segments.append(Segment(at, until, state, exact))
    return tuple(segments)
