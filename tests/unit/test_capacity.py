"""GIVEN target health per target group WHEN removing one instance THEN enough healthy targets remain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steps.domain.capacity import healthy_after_removal, required_healthy

TG1 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/1111111111111111"
TG2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-http/2222222222222222"


def fleet(n: int, state: str = "healthy") -> dict[str, str]:
    return {f"i-{k:08x}": state for k in range(n)}


def test_required_is_the_larger_of_absolute_and_percent() -> None:
    assert required_healthy(12, 2, 50) == 6
    assert required_healthy(12, 8, 50) == 8
    assert required_healthy(3, 0, 50) == 2  # ceil(1.5)
    assert required_healthy(10, 0, 50) == 5  # exact, no float rounding up


def test_six_healthy_with_min_six_is_never_touched() -> None:
    states = {TG1: fleet(6), TG2: fleet(6)}
    decision = healthy_after_removal(states, "i-00000000", min_healthy=6, min_healthy_percent=0)
    assert not decision.allowed
    assert "5 healthy after removal" in decision.reason and "needs 6" in decision.reason


def test_every_target_group_must_allow_it() -> None:
    # GIVEN the second target group is already short of healthy targets
    second = fleet(4)
    second["i-00000001"] = "unhealthy"
    second["i-00000002"] = "initial"
    decision = healthy_after_removal({TG1: fleet(4), TG2: second}, "i-00000000", 2, 0)
    assert not decision.allowed
    assert [c.ok for c in decision.checks] == [True, False]


def test_unknown_health_counts_as_unhealthy() -> None:
    states = {TG1: {"i-00000000": "healthy", "i-00000001": "unavailable", "i-00000002": "healthy"}}
    decision = healthy_after_removal(states, "i-00000000", 2, 0)
    assert not decision.allowed


def test_removing_an_unhealthy_instance_costs_no_capacity() -> None:
    states = {TG1: {**fleet(2), "i-000000ff": "unhealthy"}}
    assert healthy_after_removal(states, "i-000000ff", 2, 0).allowed


def test_per_az_guards_the_candidates_zone() -> None:
    # GIVEN plenty of capacity overall but the candidate is the only healthy target in its AZ
    states = {TG1: fleet(6)}
    zones = {f"i-{k:08x}": ("a" if k == 0 else "b") for k in range(6)}
    assert healthy_after_removal(states, "i-00000000", 1, 0).allowed
    decision = healthy_after_removal(states, "i-00000000", 1, 0, zones=zones)
    assert not decision.allowed
    assert "in a" in decision.reason


@pytest.mark.parametrize(("registered", "min_healthy", "percent", "required"), [
    # written by hand: the larger of the absolute floor and ceil(percent of registered)
    (12, 2, 50, 6), (12, 8, 50, 8), (3, 0, 50, 2), (10, 0, 50, 5), (10, 0, 51, 6), (10, 0, 49, 5),
    (1, 0, 100, 1), (4, 0, 100, 4), (4, 1, 0, 1), (0, 0, 50, 0), (0, 2, 50, 2), (7, 0, 1, 1),
    (3, 0, 100 / 3, 1),  # exactly one third of 3 is 1: float noise must not round it up to 2
    (3, 0, 33.4, 2), (6, 3, 50, 3), (6, 4, 50, 4),
])
def test_required_healthy_table(registered: int, min_healthy: int, percent: float, required: int) -> None:
    assert required_healthy(registered, min_healthy, percent) == required


@pytest.mark.parametrize(("states", "candidate", "min_healthy", "percent", "allowed"), [
    # (target health of one target group, the candidate, min_healthy, min_healthy_percent) -> allowed, by hand
    ("HHHH", 0, 3, 0, True),    # 3 left, 3 needed
    ("HHHH", 0, 4, 0, False),   # 3 left, 4 needed
    ("HHHU", 3, 3, 0, True),    # removing the unhealthy one costs nothing
    ("HHHU", 0, 3, 0, False),   # 2 healthy left
    ("HHHH", 0, 0, 75, True),   # 3 left, ceil(75 % of 4) = 3
    ("HHHH", 0, 0, 76, False),  # ceil(3.04) = 4
    ("HHIU", 0, 0, 25, True),   # 1 left, ceil(25 % of 4) = 1
    ("HHIU", 0, 0, 26, False),  # ceil(1.04) = 2
    ("HDHH", 0, 2, 0, True),    # draining does not count, 2 healthy left
    ("HDHH", 0, 3, 0, False),
    ("H", 0, 0, 0, True),       # a floor of zero lets the last one go (validation refuses it elsewhere)
    ("H", 0, 1, 0, False),
])
def test_allowed_table(states: str, candidate: int, min_healthy: int, percent: float, allowed: bool) -> None:
    names = {"H": "healthy", "U": "unhealthy", "I": "initial", "D": "draining"}
    members = {f"i-{k:08x}": names[c] for k, c in enumerate(states)}
    decision = healthy_after_removal({TG1: members}, f"i-{candidate:08x}", min_healthy, percent)
    assert decision.allowed is allowed


def slow_required(registered: int, min_healthy: int, percent: int) -> int:
    """A second, simple statement of the floor: count up to the smallest k with k / registered >= percent %."""
    k = 0
    while k * 100 < registered * percent:
        k += 1
    return max(min_healthy, k)


@given(st.lists(st.sampled_from(["healthy", "unhealthy", "initial", "draining", "unavailable"]), min_size=1,
                max_size=30), st.integers(0, 10), st.integers(0, 100), st.data())
def test_allowed_means_the_minimum_still_holds(states: list[str], min_healthy: int, percent: int,
                                                data: st.DataObject) -> None:
    members = {f"i-{k:08x}": s for k, s in enumerate(states)}
    candidate = data.draw(st.sampled_from(sorted(members)))
    decision = healthy_after_removal({TG1: members}, candidate, min_healthy, percent)
    remaining = sum(1 for i, s in members.items() if s == "healthy" and i != candidate)
    assert decision.allowed == (remaining >= slow_required(len(members), min_healthy, percent))
