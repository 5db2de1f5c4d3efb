"""GIVEN a group whose floor binds WHEN many remediations decide at the same instant THEN the capacity ledger lets
exactly as many instances out as the floor (or max_in_flight, or the account ceiling) allows (issue 17, item 1).

Each thread holds its own slot of the group lease, read the same target health (every instance healthy) before
anyone reserved, and decides with the real capacity decision (steps/remediate/blockers.py ``decide``) and the real
limits (steps/domain/in_flight.py ``refuse``). Only the ledger's version check stands between them and taking
out more than the floor allows: without it, every thread sees the same empty ledger and all of them reserve.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from nightshift.runtime.moto_gaps import serialize_dynamodb_writes
from steps.core.config import parse_groups
from steps.core.reasons import Reason
from steps.domain.capacity import RoutingFailover
from steps.domain.in_flight import Refusal, refuse, reserved_instances, resolve
from steps.remediate import blockers
from steps.store import ledger, lock

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
RUNNING = "RUNNING"


@pytest.fixture
def table() -> Iterator[None]:
    serialize_dynamodb_writes()
    with mock_aws():
        lock.GroupLock.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


def _group(**settings: Any) -> Any:
    return parse_groups({"groups": [{"name": "web", "target_group_arns": [TG], **settings}]}).group("web")


def _race(group: Any, size: int, racers: int, *, account_max: int | None = None,
          per_hour: int | None = None, zones: dict[str, str] | None = None) -> list[tuple[str, Any]]:
    """``racers`` executions, each with its own slot, decide for instance i-<n> at the same moment."""
    instances = [f"i-{n:03d}" for n in range(size)]
    snap = blockers.Snapshot({TG: dict.fromkeys(instances, "healthy")}, {TG: RoutingFailover()}, zones)
    # As many slots as racers: the slots may have been taken while the group was larger (a percentage resolves
    # against the registered instances when a slot is taken); the reservation must bind on its own.
    slots = max(group.in_flight.of(size), racers)
    owners = [f"exec-{n}" for n in range(racers)]
    keys = {}
    for owner in owners:
        outcome = lock.acquire("web", owner, 1000.0, 7200, lambda _arn: RUNNING, max_slots=slots, seen_slots=slots)
        assert outcome.acquired, outcome
        keys[owner] = outcome.key
    ledger.note_slots("web", slots)
    limits = resolve(group.in_flight, group.in_flight_per_az, account_max, per_hour, size, None)
    all_read = threading.Barrier(racers, timeout=30)
    results: list[tuple[str, Any]] = []
    guard = threading.Lock()

    def one(n: int) -> None:
        owner, candidate = owners[n], instances[n]
        first = [True]

        def decide(view: ledger.GroupView) -> Refusal | str | None:
            if first[0]:  # every racer has read the ledger before anyone writes: "the same moment"
                first[0] = False
                all_read.wait()
            decision = blockers.decide(group, snap, candidate, reserved_instances(view.others))
            zone_limits = resolve(group.in_flight, group.in_flight_per_az, account_max, per_hour, size,
                                  snap.registered_in_zone((zones or {}).get(candidate)))
            refusal = refuse(candidate, (zones or {}).get(candidate), view.others, view.account_others,
                             view.recent_starts, zone_limits if zones else limits, 1000.0)
            if refusal is not None:
                return refusal
            return None if decision.allowed else "floor"

        _, refused = ledger.reserve("web", keys[owner], owner, candidate, (zones or {}).get(candidate), 1000.0,
                                    slots, account_max is not None or per_hour is not None, size, decide)
        with guard:
            results.append((candidate, refused))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _reserved_in_table() -> set[str]:
    return {item.instance for item in lock.slots([lock.slot_key("web", i) for i in range(64)])
            if item.reserved_at is not None and item.instance}


def test_twenty_decisions_at_once_take_out_exactly_what_the_floor_allows(table: None) -> None:
    # 10 healthy, min_healthy 7: at most 3 may be out at once; max_in_flight 20 would allow them all
    group = _group(max_in_flight=20, min_healthy=7, min_healthy_percent=0)
    results = _race(group, size=10, racers=10)
    allowed = [c for c, refused in results if refused is None]
    assert len(allowed) == 3, results
    assert _reserved_in_table() == set(allowed)
    assert sorted(str(r) for c, r in results if r is not None) == ["floor"] * 7


def test_max_in_flight_binds_when_the_floor_does_not(table: None) -> None:
    group = _group(max_in_flight="20%", min_healthy=1, min_healthy_percent=0)  # 20 % of 10: 2
    results = _race(group, size=10, racers=6)
    assert len([c for c, r in results if r is None]) == 2
    refusals = [r for _, r in results if isinstance(r, Refusal)]
    assert len(refusals) == 4 and {r.code for r in refusals} == {Reason.SKIPPED_IN_FLIGHT}
    assert len(_reserved_in_table()) == 2


def test_the_account_ceiling_binds_across_decisions_at_once(table: None) -> None:
    group = _group(max_in_flight=10, min_healthy=1, min_healthy_percent=0)
    results = _race(group, size=10, racers=8, account_max=3)
    assert len([c for c, r in results if r is None]) == 3
    assert {r.code for _, r in results if isinstance(r, Refusal)} == {Reason.SKIPPED_ACCOUNT_LIMIT}
    account = ledger.head(ledger.ACCOUNT_KEY)
    assert account is not None and len(account.reservations or []) == 3 and len(account.starts or []) == 3


def test_the_account_rate_binds(table: None) -> None:
    group = _group(max_in_flight=10, min_healthy=1, min_healthy_percent=0)
    results = _race(group, size=10, racers=5, per_hour=2)
    assert len([c for c, r in results if r is None]) == 2


def test_per_zone_max_in_flight_binds_in_each_zone(table: None) -> None:
    zones = {f"i-{n:03d}": ("us-east-1a" if n % 2 == 0 else "us-east-1b") for n in range(8)}
    group = _group(max_in_flight=8, max_in_flight_per_az=1, min_healthy=1, min_healthy_percent=0)
    results = _race(group, size=8, racers=8, zones=zones)
    allowed = [c for c, r in results if r is None]
    assert sorted(zones[c] for c in allowed) == ["us-east-1a", "us-east-1b"], results


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(3, 12), min_healthy=st.integers(1, 11), in_flight=st.integers(1, 6),
       racers=st.integers(2, 8))
def test_property_never_below_the_floor_nor_above_max_in_flight(size: int, min_healthy: int, in_flight: int,
                                                                racers: int) -> None:
    serialize_dynamodb_writes()
    with mock_aws():
        lock.GroupLock.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        racers = min(racers, size, in_flight)
        group = _group(max_in_flight=in_flight, min_healthy=min_healthy, min_healthy_percent=0)
        results = _race(group, size=size, racers=racers)
        out = len([c for c, r in results if r is None])
        # the floor is at least 1 healthy target (steps/core/config.py floor)
        assert size - out >= max(1, min_healthy) or out == 0
        assert out <= in_flight
        # and it is not timid: as many as both limits allow (every racer had a distinct candidate)
        assert out == max(0, min(racers, in_flight, size - max(1, min_healthy)))
