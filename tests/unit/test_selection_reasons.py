"""The selection in full: every field, every reason sentence (SELECTED / NO_CANDIDATE in the audit trail), and
the tie-breaks, written by hand."""

from __future__ import annotations

import pytest

from steps.domain.selection import Evaluation, Selection, _rank, evaluate, select_worst


def series(*values: float) -> list[tuple[float, float]]:
    return [(60.0 * i, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(("points", "expected"), [
    (series(99, 99, 99, 10, 65, 66), Evaluation("i-a", 66, 1, 3)),  # the last 3 only; 65 is not above 65
    (series(64, 65.5, 70), Evaluation("i-a", 70, 2, 3)),
    (series(70), Evaluation("i-a", 70, 1, 1)),  # missing datapoints are not breaches
    (series(), Evaluation("i-a", None, 0, 0)),
])
def test_evaluate_the_last_n_datapoints(points: list[tuple[float, float]], expected: Evaluation) -> None:
    assert evaluate("i-a", points, 65, 3) == expected


def test_rank_orders_by_latest_value_then_breaches_then_id() -> None:
    assert _rank(Evaluation("i-a", 80.5, 2, 3)) == (-80.5, -2, "i-a")
    assert _rank(Evaluation("i-b", None, 0, 0)) == (float("inf"), 0, "i-b")  # no value ranks last


def test_the_worst_candidate_in_full() -> None:
    data = {"i-a": series(70, 71, 72.25), "i-b": series(80, 85, 86.04), "i-c": series(40, 41, 42)}
    assert select_worst(data, 65, 3, 3, "mem") == Selection(
        "i-b", 86.04, 3, "i-b has mem 86.0 above 65 in 3 of the last 3 datapoints; worst of 2 candidate(s)", 3, 3, 2)


def test_nobody_breaching_says_the_highest_value_and_who_reported() -> None:
    data = {"i-a": series(50, 60, 70), "i-b": series(40), "i-c": series()}
    assert select_worst(data, 65, 2, 3, "mem") == Selection(
        None, 70, 0, "no instance has mem above 65 in 2 of the last 3 datapoints (highest latest value: 70.0; "
        "2 of 3 instances reported data)", 3, 2, 0)


def test_no_data_at_all_in_full() -> None:
    assert select_worst({"i-a": [], "i-b": []}, 65.5, 1, 5, "cpu") == Selection(
        None, None, 0, "no instance has cpu above 65.5 in 1 of the last 5 datapoints (highest latest value: no data; "
        "0 of 2 instances reported data)", 2, 0, 0)


@pytest.mark.parametrize(("data", "needed", "chosen", "breaching", "candidates"), [
    # the highest latest value wins, even over an instance breaching more often
    ({"i-a": series(99, 99, 80), "i-b": series(50, 50, 81)}, 1, "i-b", 1, 2),
    # equal latest values: more breaching datapoints win
    ({"i-b": series(60, 90, 90), "i-c": series(90, 90, 90)}, 2, "i-c", 3, 2),
    # equal in both: the lower instance id (a replay picks the same one)
    ({"i-c": series(90, 90), "i-b": series(90, 90), "i-d": series(90, 90)}, 2, "i-b", 2, 3),
    # an instance below the needed count is no candidate, however high its value
    ({"i-a": series(10, 99), "i-b": series(70, 70)}, 2, "i-b", 2, 1),
])
def test_tie_breaks(data: dict[str, list[tuple[float, float]]], needed: int, chosen: str, breaching: int,
                    candidates: int) -> None:
    selection = select_worst(data, 65, needed, 3, "mem")
    assert (selection.instance_id, selection.breaching, selection.candidates) == (chosen, breaching, candidates)
