"""When an instance's OS is really down, as opposed to when someone asked for a reboot.

``RebootInstances`` only queues a reboot: the OS shuts down a little later, and when it hangs on the
way down AWS hard-reboots it after a few minutes. The kernel's boot time (``/proc/stat`` btime) changes
only at that reset, which is why the workflow proves a reboot by the boot time and not by the request.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from nightshift.sim.spec import InstanceSpec


@dataclass(frozen=True)
class Outage:
    """One reboot that really happens, from the request that caused it to the OS being back."""

    requested_at: float
    # The OS stops serving: a clean shutdown starts, or a hung one begins to hang.
    stops_serving_at: float
    # The kernel restarts: the reboot really happens and the boot time changes.
    reset_at: float
    up_at: float


class PowerHistory:
    """Reboot requests and the outages they cause; appended in clock order, evaluated lazily."""

    def __init__(self, spec: InstanceSpec, first_boot: float) -> None:
        self._spec = spec
        self.first_boot = first_boot
        self.requests: list[float] = []
        self.outages: list[Outage] = []
        self._ups: list[float] = []  # outages' up_at, for bisect

    def request_reboot(self, at: float) -> Outage | None:
        """Record a request; return the outage it schedules, or None when one is already under way."""
        self.requests.append(at)
        if self.outages and at < self.outages[-1].up_at:
            # AWS treats RebootInstances as a request: asking again while one is queued, hanging or
            # booting does not queue a second reboot.
            return None
        spec = self._spec
        stops = at + spec.reboot_queue_seconds
        reset = at + spec.hard_reboot_after_seconds if spec.hard_reboot_after_seconds is not None else stops
        outage = Outage(requested_at=at, stops_serving_at=stops, reset_at=reset, up_at=reset + spec.boot_seconds)
        self.outages.append(outage)
        self._ups.append(outage.up_at)
        return outage

    def outage_at(self, t: float) -> Outage | None:
        """The outage during which the OS does not serve at ``t`` (shutting down, hung or booting)."""
        index = bisect_right(self._ups, t)
        if index < len(self.outages):
            outage = self.outages[index]
            if outage.stops_serving_at <= t:
                return outage
        return None

    def is_up(self, t: float) -> bool:
        return self.outage_at(t) is None

    def next_up(self, t: float) -> float:
        """``t`` when the OS serves then, else the moment it is back."""
        outage = self.outage_at(t)
        return t if outage is None else outage.up_at

    def last_recovery(self, t: float) -> Outage | None:
        """The latest outage the OS is back from at ``t``."""
        index = bisect_right(self._ups, t)
        return self.outages[index - 1] if index else None

    def boot_time(self, t: float) -> float:
        """When the running kernel started, as seen at ``t`` (build time counts as the first boot)."""
        boot = self.first_boot
        for outage in self.outages:
            if outage.reset_at > t:
                break
            boot = outage.reset_at
        return boot

    def resets(self) -> list[float]:
        return [outage.reset_at for outage in self.outages]

    def down_intervals(self) -> list[tuple[float, float]]:
        return [(outage.stops_serving_at, outage.up_at) for outage in self.outages]

    def lost_between(self, start: float, end: float) -> bool:
        """Did the OS stop serving at any moment in [start, end]? (Connections die with it.)"""
        return any(o.stops_serving_at <= end and o.up_at > start for o in self.outages)
