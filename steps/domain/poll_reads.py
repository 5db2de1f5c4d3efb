"""When a poll loop may answer from a reading another execution took (docs/design.md, "Polls at fleet scale").

Pure: the ages and bounds, and what a target group's registrations say about one instance. The store is
steps/store/read_cache.py; the steps read through steps/remediate/polls.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

# A reading older than this is never fresh, whatever the poll interval: a poll waits for a state it then acts on
# (the drain over, healthy), so a shared reading must stay well under the interval the loop itself would give.
MAX_AGE_CAP_SECONDS = 5.0
# A poll that lost the refresh claim (another execution is reading AWS right now) takes the entry it has if the
# entry is at most this many times the fresh age; older, it reads AWS itself.
STALE_FACTOR = 2.0
# A refresh claim older than this is abandoned (its Lambda died, or its read hangs): another poll may claim. The
# read itself is bounded by the clients' connect + read timeouts (steps/aws/clients.py: 5 s + 20 s); a slow
# refresher overtaken after this costs one more read, never a wrong answer (the newer reading wins the write).
CLAIM_SECONDS = 10.0
GONE = frozenset({"unused"})  # steps/aws/elbv2.py GONE_STATES: not registered


def max_age(poll_seconds: float) -> float:
    """The age under which a shared reading is as good as one's own: half the poll interval, at most 5 s."""
    return min(poll_seconds / 2, MAX_AGE_CAP_SECONDS)


@dataclass(frozen=True)
class Freshness:
    """What one poll accepts. ``not_before``: when the state the loop waits for could first begin (the
    deregistration, the registration): a reading taken earlier says nothing about it and is never used."""

    max_age: float
    not_before: float

    @property
    def stale_bound(self) -> float:
        return self.max_age * STALE_FACTOR

    def fresh(self, fetched_at: float, now: float) -> bool:
        return fetched_at >= self.not_before and now - fetched_at <= self.max_age

    def acceptable(self, fetched_at: float, now: float) -> bool:
        """Good enough for a poll that lost the refresh claim."""
        return fetched_at >= self.not_before and now - fetched_at <= self.stale_bound


def for_poll(poll_seconds: float, not_before: float) -> Freshness:
    return Freshness(max_age(poll_seconds), not_before)


class Registered(Protocol):
    @property
    def target_id(self) -> str: ...
    @property
    def state(self) -> str: ...


def states_of(registrations: Iterable[Registered], instance_id: str) -> list[str]:
    """The states of every registration of ``instance_id`` (one per port), ``unused`` left out."""
    return [r.state for r in registrations if r.target_id == instance_id and r.state not in GONE]


def state_of(registrations: Iterable[Registered], instance_id: str) -> str:
    """One state for the instance in one target group: ``unused`` when not registered, ``healthy`` only when every
    registration is, else the first that is not (an instance on two ports serves on both)."""
    states = states_of(registrations, instance_id)
    if not states:
        return "unused"
    return next((s for s in states if s != "healthy"), "healthy")


def states_by_instance(registrations: Iterable[Registered]) -> dict[str, str]:
    """instance id -> ``state_of`` for every instance registered (``unused`` ones left out)."""
    listed = list(registrations)
    return {i: state_of(listed, i) for i in dict.fromkeys(r.target_id for r in listed if r.state not in GONE)}
