"""Several remediations of one group at once: how many, and whether one more may take an instance out. Pure.

docs/design.md, "Several at once: slots and the capacity ledger". A group runs up to ``max_in_flight``
remediations at a time (a count, or a percentage of its registered instances), optionally also per Availability
Zone (``max_in_flight_per_az``); the account runs up to ``account.max_in_flight`` across every group, and starts
at most ``account.max_per_hour`` in any hour. Each remediation holds one *slot* of its group (steps/store/lock.py)
from its start; an instance is *reserved* when the capacity check lets it leave service. The capacity check
counts every instance another remediation has reserved as out of service already, whatever DescribeTargetHealth
still says about it (a reserved instance may not be deregistered yet), and commits its own reservation only if
no other decision committed since it read the reservations (steps/store/ledger.py): two decisions can never both
take the last instance the floor allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from steps.core.reasons import Reason

HOUR_SECONDS = 3600
_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,4})?)\s*%\s*\Z")


@dataclass(frozen=True)
class Share:
    """A count, or a percentage of a whole (rounded down, at least 1)."""

    count: int | None = None
    percent: float | None = None

    def of(self, whole: int | None) -> int:
        """How many, out of ``whole`` (None: not known yet; a percentage then allows 1)."""
        if self.count is not None:
            return self.count
        if whole is None:
            return 1
        return max(1, math.floor(whole * (self.percent or 0.0) / 100.0 + 1e-9))

    def text(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


def parse_share(value: int | str, field: str) -> Share:
    """``3`` or ``"10%"``; a ValueError naming ``field`` and the fix otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not a count or a percentage; write e.g. 2 or \"10%\"")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{field}: {value} would never let a remediation start; use at least 1 (or \"N%\")")
        return Share(count=value)
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(f"{field}: {value!r} is not a count or a percentage; write e.g. 2 or \"10%\"")
    percent = float(match.group(1))
    if not 0 < percent <= 100:
        raise ValueError(f"{field}: {value!r} must be above 0% and at most 100%")
    return Share(percent=percent)


@dataclass(frozen=True)
class Held:
    """A slot of the group (or of the account) held by another live remediation."""

    owner: str
    group: str
    instance: str | None  # None: still selecting (or watching): nothing taken out yet
    zone: str | None
    reserved: bool  # the capacity check let ``instance`` leave service

    @property
    def out_of_service(self) -> bool:
        """Counted as out of service: reserved (taking it out, or out already)."""
        return self.reserved and self.instance is not None


@dataclass(frozen=True)
class Limits:
    """The group's and the account's in-flight limits, resolved against the registered instances."""

    group_max: int
    zone_max: int | None
    account_max: int | None
    account_per_hour: int | None


def resolve(max_in_flight: Share, per_az: Share | None, account_max: int | None, account_per_hour: int | None,
            registered: int, registered_in_zone: int | None) -> Limits:
    return Limits(max_in_flight.of(registered), per_az.of(registered_in_zone) if per_az is not None else None,
                  account_max, account_per_hour)


@dataclass(frozen=True)
class Refusal:
    code: Reason
    reason: str
    numbers: dict[str, object]


def reserved_instances(others: Iterable[Held]) -> set[str]:
    return {h.instance for h in others if h.out_of_service and h.instance is not None}


def without_reserved(states: Mapping[str, Mapping[str, str]], reserved: set[str]) -> dict[str, dict[str, str]]:
    """Target health as the capacity check must read it: an instance another remediation reserved is leaving
    service (``draining``) even where DescribeTargetHealth still reads ``healthy`` (it may not be deregistered
    yet); and it stays counted among the registered targets of every target group, even once its drain ended and
    DescribeTargetHealth no longer lists it (it is coming back): a percentage floor read against the targets still
    listed would otherwise fall as the group's instances are taken out (3 instances, 50 %: 1 healthy of 3). Counted
    in every target group of the group, the stricter reading where it was registered in only some of them."""
    adjusted = {tg: {i: ("draining" if i in reserved and s == "healthy" else s) for i, s in members.items()}
                for tg, members in states.items()}
    for members in adjusted.values():
        for instance in reserved:
            members.setdefault(instance, "draining")
    return adjusted


def refuse(candidate: str, zone: str | None, group_others: list[Held], account_others: list[Held],
           recent_starts: list[float], limits: Limits, now: float) -> Refusal | None:
    """Whether one more reservation (``candidate``, in ``zone``) would exceed a limit; None: within every limit.
    ``group_others``/``account_others``: the other live remediations' slots; ``recent_starts``: the account's
    reservations (times) over the last hour."""
    taken = [h for h in group_others if h.out_of_service]
    if any(h.instance == candidate for h in taken):
        holder = next(h.owner for h in taken if h.instance == candidate)
        return Refusal(Reason.SKIPPED_CLAIMED, f"{candidate} is reserved by another remediation ({holder})",
                       {"holder": holder})
    numbers: dict[str, object] = {"in_flight": len(taken), "max_in_flight": limits.group_max,
                                  "reserved": sorted(h.instance for h in taken if h.instance)}
    if len(taken) >= limits.group_max:
        return Refusal(Reason.SKIPPED_IN_FLIGHT, f"{len(taken)} instances of the group are out of service for "
                       f"remediation already (max_in_flight {limits.group_max}): {candidate} waits", numbers)
    if limits.zone_max is not None:
        in_zone = [h for h in taken if h.zone == zone]
        numbers.update(zone=zone, in_flight_in_zone=len(in_zone), max_in_flight_per_az=limits.zone_max)
        if len(in_zone) >= limits.zone_max:
            return Refusal(Reason.SKIPPED_IN_FLIGHT, f"{len(in_zone)} instances of the group in {zone} are out of "
                           f"service for remediation already (max_in_flight_per_az {limits.zone_max}): "
                           f"{candidate} waits", numbers)
    if limits.account_max is not None:
        account_taken = [h for h in account_others if h.out_of_service]
        numbers.update(account_in_flight=len(account_taken), account_max_in_flight=limits.account_max)
        if len(account_taken) >= limits.account_max:
            return Refusal(Reason.SKIPPED_ACCOUNT_LIMIT, f"{len(account_taken)} instances of the account are out "
                           f"of service for remediation (account.max_in_flight {limits.account_max}): {candidate} "
                           "waits", numbers)
    if limits.account_per_hour is not None:
        last_hour = [t for t in recent_starts if now - t < HOUR_SECONDS]
        numbers.update(account_started_last_hour=len(last_hour), account_max_per_hour=limits.account_per_hour)
        if len(last_hour) >= limits.account_per_hour:
            return Refusal(Reason.SKIPPED_ACCOUNT_LIMIT, f"{len(last_hour)} remediations started in the account in "
                           f"the last hour (account.max_per_hour {limits.account_per_hour}): {candidate} waits",
                           numbers)
    return None
