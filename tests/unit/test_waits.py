"""The one rule for a poll loop's next Wait (steps/domain/waits.py), stated by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steps.domain import waits


@pytest.mark.parametrize(
    ("wanted", "elapsed", "deadline", "expected"),
    [
        (30, 0, 900, 30),  # plenty of time: what the loop wants
        (30, 880, 900, 20),  # cut at the deadline: the last look is at the deadline
        (30, 899.2, 900, 1),  # 0.8 s left: rounded up to 1
        (30, 900, 900, 1),  # at (or past) the deadline: never 0 (a caller checks expired first)
        (30, 950, 900, 1),
        (0, 10, 900, 1),  # nothing wanted: still 1 s, a 0 s Wait would spin
        (-5, 10, 900, 1),
        (12.1, 0, 900, 13),  # rounded up, never down: a Wait shorter than asked looks early
        (12.0, 0, 900, 12),
        (30, 869.5, 900, 30),  # 30.5 s left: the whole 30 s wanted
        (30, 870.5, 900, 30),  # 29.5 s left: rounded up to 30
    ],
)
def test_next_wait_by_hand(wanted: float, elapsed: float, deadline: float, expected: int) -> None:
    assert waits.next_wait(wanted, elapsed, deadline) == expected


@pytest.mark.parametrize(("elapsed", "deadline", "expected"),
                         [(0, 900, False), (899.999, 900, False), (900, 900, True), (901, 900, True)])
def test_expired_by_hand(elapsed: float, deadline: float, expected: bool) -> None:
    assert waits.expired(elapsed, deadline) is expected


@given(st.floats(-100, 5000), st.floats(0, 5000), st.integers(1, 7200))
def test_next_wait_is_whole_positive_and_never_past_the_deadline_by_a_second(wanted: float, elapsed: float,
                                                                           deadline: int) -> None:
    wait = waits.next_wait(wanted, elapsed, deadline)
    assert isinstance(wait, int)
    assert wait >= 1
    if elapsed < deadline:
        assert elapsed + wait < deadline + 1  # the next look lands within a second of the deadline at most
        assert wait >= min(wanted, deadline - elapsed)  # never shorter than wanted or the time left
