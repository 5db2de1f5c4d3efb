"""The shared poll reads' pure rules (steps/domain/poll_reads.py) and the stored reading's size
(steps/store/read_cache.py): docs/design.md, "Polls at fleet scale"."""

from __future__ import annotations

import random

import pytest

from steps.aws.elbv2 import Registration
from steps.domain import poll_reads
from steps.store import read_cache

REASONS = {"healthy": None, "initial": "Elb.RegistrationInProgress", "unhealthy": "Target.FailedHealthChecks",
           "draining": "Target.DeregistrationInProgress", "unused": "Target.NotInUse",
           "unavailable": "Target.HealthCheckDisabled"}


def target_group_of(size: int, seed: int = 1) -> list[list[object]]:
    """A stored DescribeTargetHealth answer of ``size`` instance targets: random ids, two ports, mostly healthy."""
    rng = random.Random(seed)
    states = ["healthy"] * 90 + [s for s in REASONS if s != "healthy"] * 2
    rows: list[list[object]] = []
    for _ in range(size):
        state = rng.choice(states)
        rows.append([f"i-{rng.getrandbits(68):017x}", rng.choice([443, 8080]), state, REASONS[state]])
    return rows


@pytest.mark.parametrize(("poll_seconds", "expected"), [(1, 0.5), (5, 2.5), (10, 5.0), (30, 5.0), (300, 5.0)])
def test_a_shared_reading_is_fresh_for_half_the_poll_interval_and_never_more_than_5_s(
        poll_seconds: int, expected: float) -> None:
    assert poll_reads.max_age(poll_seconds) == expected


def test_a_reading_from_before_the_awaited_state_could_begin_is_never_used() -> None:
    freshness = poll_reads.for_poll(10, not_before=1000.0)
    assert freshness.fresh(1000.0, 1004.0) and freshness.fresh(1001.0, 1006.0)
    assert not freshness.fresh(999.9, 1000.0)  # taken before the registration: says nothing of it
    assert not freshness.fresh(1000.0, 1005.1)  # older than max_age
    # a poll that lost the refresh claim takes up to twice max_age, never one from before not_before
    assert freshness.acceptable(1000.0, 1010.0) and not freshness.acceptable(1000.0, 1010.1)
    assert not freshness.acceptable(999.0, 1000.0)


def test_an_instance_is_healthy_in_a_target_group_only_when_every_registration_is() -> None:
    i = "i-0123456789abcdef0"
    both = [Registration(i, 443, "healthy", None), Registration(i, 8443, "initial", "Elb.RegistrationInProgress")]
    assert poll_reads.state_of(both, i) == "initial"
    assert poll_reads.state_of([Registration(i, 443, "healthy", None)], i) == "healthy"
    # not listed, or listed only as unused: not registered (the drain's "gone")
    assert poll_reads.state_of([Registration(i, 443, "unused", "Target.NotRegistered")], i) == "unused"
    assert poll_reads.states_of([Registration("i-other", 443, "healthy", None)], i) == []
    assert poll_reads.states_by_instance([*both, Registration("i-gone", 80, "unused", None)]) == {i: "initial"}


def test_a_target_group_of_1000_targets_is_stored_in_a_small_fraction_of_the_item_limit() -> None:
    # AWS's default quota is 1,000 targets per target group (adjustable):
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
    sizes = {n: len(read_cache.encode(target_group_of(n))) for n in (1000, 5000, 20000)}
    assert sizes[1000] < 16 * 1024  # measured 12,305 bytes (46,012 as plain JSON)
    assert sizes[20000] < read_cache.MAX_BODY_BYTES < 400 * 1024  # measured about 240 KB
    assert read_cache.decode(read_cache.encode(target_group_of(1000))) == target_group_of(1000)


def test_a_reading_too_large_for_an_item_is_not_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[object] = []
    monkeypatch.setattr(read_cache.CachedRead, "update", lambda *a, **k: writes.append(a))
    assert read_cache.publish("cache#tgh#x", target_group_of(30000), 1.0, 1.0) is False  # about 360 KB compressed
    assert writes == []
    assert read_cache.publish("cache#tgh#x", target_group_of(10), 1.0, 1.0) is True
    assert len(writes) == 1
