"""When an instance's OS is really down, as opposed to when someone asked for a reboot, a stop or a start.

``RebootInstances`` only queues a reboot: the OS shuts down a little later, and when it hangs on the
way down AWS hard-reboots it after a few minutes. The kernel's boot time (``/proc/stat`` btime) changes
only at that reset, which is why the workflow proves a reboot by the boot time and not by the request.

``StopInstances`` shuts the OS down at once (connections die); EC2 reports ``stopping`` for a while, then
``stopped``. ``StartInstances`` boots it again (``pending`` until the boot is done, then ``running``) on a
new host, so the boot time becomes the start. An Auto Scaling termination stops the OS for good, and a
replacement instance begins life booting. Each of these is one ``Outage``: a span where the OS does not
serve, possibly open-ended (``inf``) until a later event (a start) closes it.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RebootInstances.html and
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, replace

from nightshift.sim.spec import HUNG_HARD_REBOOT_SECONDS, InstanceSpec

INF = math.inf

# What caused an outage.
REBOOT = "reboot"
STOP = "stop"
TERMINATE = "terminate"
LAUNCH = "launch"

# EC2 instance states and their codes, as DescribeInstances/DescribeInstanceStatus report them.
PENDING, RUNNING, SHUTTING_DOWN, TERMINATED, STOPPING, STOPPED = (
    "pending", "running", "shutting-down", "terminated", "stopping", "stopped")
STATE_CODES = {PENDING: 0, RUNNING: 16, SHUTTING_DOWN: 32, TERMINATED: 48, STOPPING: 64, STOPPED: 80}


@dataclass(frozen=True)
class Outage:
    """One span where the OS does not serve, from the request that caused it to the OS being back."""

    requested_at: float
    # The OS stops serving: a clean shutdown starts, or a hung one begins to hang.
    stops_serving_at: float
    # The kernel restarts: the reboot really happens and the boot time changes (inf: not, or not yet).
    reset_at: float
    up_at: float  # inf: not back (a stopped instance not started yet, a terminated one)
    kind: str = REBOOT
    # stop: `stopping` becomes `stopped`; terminate: `shutting-down` becomes `terminated`.
    settles_at: float | None = None


class PowerHistory:
    """Requests and the outages they cause; appended in clock order, evaluated lazily.

    Outages never overlap: an event that takes the OS down while an earlier outage is still under way
    cuts that one short (a stop supersedes a queued reboot, a termination ends a stop).
    """

    def __init__(self, spec: InstanceSpec, first_boot: float, launched_at: float | None = None) -> None:
        self._spec = spec
        self.first_boot = first_boot
        # None: the instance existed long before build(). A number: it did not exist before then.
        self.launched_at = launched_at
        self.requests: list[float] = []  # RebootInstances calls, absorbed ones included
        self.stop_start: list[tuple[str, float]] = []  # ("stop" | "start", when), no-ops included
        self.outages: list[Outage] = []
        self._ups: list[float] = []  # outages' up_at, for bisect
        # Changes whenever an outage is added or changed: health timelines are cached on it.
        self.version = 0
        if launched_at is not None:
            self._append(Outage(requested_at=launched_at, stops_serving_at=launched_at, reset_at=launched_at,
                                up_at=launched_at + spec.boot_seconds, kind=LAUNCH))

    # -- recording -------------------------------------------------------------------------------------

    def _append(self, outage: Outage) -> None:
        self.outages.append(outage)
        self._ups.append(outage.up_at)
        self.version += 1

    def _set_last(self, outage: Outage) -> None:
        self.outages[-1] = outage
        self._ups[-1] = outage.up_at
        self.version += 1

    def _cut(self, at: float) -> None:
        """End whatever outage is still under way at ``at``, for a new one that takes the OS down then."""
        if not self.outages or at >= self.outages[-1].up_at:
            return
        last = self.outages[-1]
        if last.kind == REBOOT and last.stops_serving_at >= at:
            # A reboot still queued never happens: the new shutdown comes first.
            self.outages.pop()
            self._ups.pop()
            self.version += 1
            return
        # A kernel reset still ahead (a hung OS) never happens either.
        self._set_last(replace(last, up_at=at, reset_at=last.reset_at if last.reset_at <= at else INF))

    def _under_way(self, at: float) -> Outage | None:
        """The last outage when it has not ended by ``at`` (it may not have begun yet: a queued reboot)."""
        if self.outages and at < self.outages[-1].up_at:
            return self.outages[-1]
        return None

    def request_reboot(self, at: float, hung: bool = False) -> Outage | None:
        """Record a request; return the outage it schedules, or None when one is already under way. ``hung``:
        the OS hangs now (a fault), so it cannot shut down cleanly and is hard-rebooted."""
        self.requests.append(at)
        if self._under_way(at) is not None:
            # AWS treats RebootInstances as a request: asking again while one is queued, hanging or
            # booting does not queue a second reboot; a stopping, stopped or terminating OS ignores it.
            return None
        spec = self._spec
        stops = at + spec.reboot_queue_seconds
        hard = spec.hard_reboot_after_seconds
        if hard is None and hung:
            hard = HUNG_HARD_REBOOT_SECONDS
        reset = at + hard if hard is not None else stops
        outage = Outage(requested_at=at, stops_serving_at=stops, reset_at=reset, up_at=reset + spec.boot_seconds)
        self._append(outage)
        return outage

    def request_stop(self, at: float) -> bool:
        """StopInstances at ``at``; False when it changes nothing (already stopping, stopped or ending)."""
        self.stop_start.append(("stop", at))
        current = self._under_way(at)
        if current is not None and current.kind != REBOOT:
            return False
        self._cut(at)
        self._append(Outage(requested_at=at, stops_serving_at=at, reset_at=INF, up_at=INF, kind=STOP,
                            settles_at=at + self._spec.stop_seconds))
        return True

    def request_start(self, at: float) -> bool:
        """StartInstances at ``at``; False unless the instance is ``stopped`` (the caller refuses the rest)."""
        self.stop_start.append(("start", at))
        if self.state(at) != STOPPED or self.outages[-1].kind != STOP:
            return False
        last = self.outages[-1]
        # A start boots a fresh kernel on a new host: the boot time is the start.
        self._set_last(replace(last, reset_at=at, up_at=at + self._spec.boot_seconds))
        return True

    def interrupt_stop(self, requested_at: float, stops_at: float) -> None:
        """EC2 stops (or hibernates) an interrupted Spot instance at ``stops_at``: no StopInstances call (not in
        ``stop_start``), the OS goes down then and the instance is ``stopped`` ``stop_seconds`` later."""
        self._cut(stops_at)
        self._append(Outage(requested_at=requested_at, stops_serving_at=stops_at, reset_at=INF, up_at=INF, kind=STOP,
                            settles_at=stops_at + self._spec.stop_seconds))

    def ec2_restart(self, at: float) -> bool:
        """EC2 restarts (or resumes) a Spot instance it stopped: as a start, but no StartInstances call. False unless
        it is ``stopped``. A resumed hibernation is modelled as a boot (nothing reads its boot time)."""
        if self.state(at) != STOPPED or self.outages[-1].kind != STOP:
            return False
        self._set_last(replace(self.outages[-1], reset_at=at, up_at=at + self._spec.boot_seconds))
        return True

    def terminate(self, requested_at: float, shuts_down_at: float, terminated_at: float) -> None:
        """An Auto Scaling termination: the OS stops serving at ``shuts_down_at``, for good."""
        self._cut(shuts_down_at)
        self._append(Outage(requested_at=requested_at, stops_serving_at=shuts_down_at, reset_at=INF, up_at=INF,
                            kind=TERMINATE, settles_at=terminated_at))

    def retime_termination(self, shuts_down_at: float, terminated_at: float) -> None:
        """A termination recorded ahead (a lifecycle hook's timeout) moves: a heartbeat delays it,
        CompleteLifecycleAction brings it forward. Its outage is the last (it never ends)."""
        last = self.outages[-1] if self.outages else None
        if last is None or last.kind != TERMINATE:
            raise ValueError("no termination recorded to retime")
        self._set_last(replace(last, stops_serving_at=shuts_down_at, settles_at=terminated_at))

    # -- reading ---------------------------------------------------------------------------------------

    def exists(self, t: float) -> bool:
        return self.launched_at is None or t >= self.launched_at

    def terminated_at(self) -> float | None:
        """When EC2 reports it terminated, once a termination is recorded."""
        last = self.outages[-1] if self.outages else None
        return last.settles_at if last is not None and last.kind == TERMINATE else None

    def outage_at(self, t: float) -> Outage | None:
        """The outage during which the OS does not serve at ``t`` (shutting down, hung, stopped or booting)."""
        index = bisect_right(self._ups, t)
        if index < len(self.outages):
            outage = self.outages[index]
            if outage.stops_serving_at <= t:
                return outage
        return None

    def is_up(self, t: float) -> bool:
        return self.exists(t) and self.outage_at(t) is None

    def next_up(self, t: float) -> float:
        """``t`` when the OS serves then, else the moment it is back (inf: not known to come back)."""
        if not self.exists(t):
            return self.next_up(self.launched_at) if self.launched_at is not None else t
        # Outages can touch (a stop cutting a reboot's boot short): follow them to the end.
        outage = self.outage_at(t)
        while outage is not None and math.isfinite(t):
            t = outage.up_at
            outage = self.outage_at(t)
        return t

    def last_recovery(self, t: float) -> Outage | None:
        """The latest outage the OS is back from at ``t``."""
        index = bisect_right(self._ups, t)
        return self.outages[index - 1] if index else None

    def boot_time(self, t: float) -> float:
        """When the running kernel started, as seen at ``t`` (build or launch counts as the first boot)."""
        resets = [outage.reset_at for outage in self.outages if outage.reset_at <= t]
        return max([self.first_boot, *resets])

    def resets(self) -> list[float]:
        """Kernel restarts caused by reboots (a start boots a new host: see ``stop_start``)."""
        return [o.reset_at for o in self.outages if o.kind == REBOOT and math.isfinite(o.reset_at)]

    def down_intervals(self) -> list[tuple[float, float]]:
        return [(outage.stops_serving_at, outage.up_at) for outage in self.outages]

    def lost_between(self, start: float, end: float) -> bool:
        """Did the OS stop serving at any moment in [start, end]? (Connections die with it.)"""
        return any(o.stops_serving_at <= end and o.up_at > start for o in self.outages)

    def state(self, t: float) -> str:
        """The EC2 instance state at ``t``. A reboot keeps the instance ``running`` throughout, as on AWS."""
        if not self.exists(t):
            return PENDING
        for outage in reversed(self.outages):
            if outage.stops_serving_at > t:
                continue
            if t >= outage.up_at:
                return RUNNING
            settles = outage.settles_at if outage.settles_at is not None else outage.stops_serving_at
            if outage.kind == STOP:
                return STOPPING if t < settles else STOPPED if t < outage.reset_at else PENDING
            if outage.kind == TERMINATE:
                return SHUTTING_DOWN if t < settles else TERMINATED
            if outage.kind == LAUNCH:
                return PENDING
            return RUNNING
        return RUNNING
