"""GIVEN per-instance datapoints WHEN selecting THEN the worst breaching instance, or why none."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from steps.domain.selection import Selection, evaluate_named, select_worst


def series(*values: float | None) -> list[tuple[float, float]]:
    return [(60.0 * i, v) for i, v in enumerate(values) if v is not None]


def test_picks_the_highest_latest_value_among_breaching_instances() -> None:
    data = {"i-aaaaaaaa": series(70, 71, 72), "i-bbbbbbbb": series(80, 85, 86), "i-cccccccc": series(40, 41, 42)}
    chosen = select_worst(data, threshold=65, breaching_needed=3, last_n=3, metric_label="mem")
    assert chosen.instance_id == "i-bbbbbbbb"
    assert chosen.value == 86
    assert chosen.candidates == 2


def test_ties_break_by_breach_count_then_instance_id() -> None:
    # GIVEN two instances with the same latest value, one breaching more often
    data = {"i-bbbbbbbb": series(90, 90, 90), "i-aaaaaaaa": series(60, 90, 90), "i-cccccccc": series(90, 90, 90)}
    chosen = select_worst(data, threshold=65, breaching_needed=2, last_n=3, metric_label="mem")
    # THEN more breaches win, and among equals the lower instance id (deterministic for replays)
    assert chosen.instance_id == "i-bbbbbbbb"


def test_missing_data_is_not_a_breach() -> None:
    # GIVEN an instance with only one datapoint (the others missing), above threshold
    data = {"i-aaaaaaaa": series(None, None, 99), "i-bbbbbbbb": series(50, 50, 50)}
    chosen = select_worst(data, threshold=65, breaching_needed=2, last_n=3, metric_label="mem")
    assert chosen.instance_id is None
    assert "2 of the last 3" in chosen.reason
    assert chosen.with_data == 2


def test_no_data_at_all_says_so() -> None:
    chosen = select_worst({"i-aaaaaaaa": []}, threshold=65, breaching_needed=1, last_n=3, metric_label="mem")
    assert chosen.instance_id is None
    assert "no data" in chosen.reason and "0 of 1" in chosen.reason


def test_only_the_last_n_datapoints_count() -> None:
    # Old breaches outside the window do not make a candidate.
    data = {"i-aaaaaaaa": series(99, 99, 99, 10, 10, 10)}
    assert select_worst(data, 65, 1, 3, "mem").instance_id is None


def test_a_named_instance_must_still_breach() -> None:
    assert evaluate_named("i-aaaaaaaa", series(50, 50, 50), 65, 2, 3, "mem").instance_id is None
    assert evaluate_named("i-aaaaaaaa", series(50, 70, 70), 65, 2, 3, "mem").instance_id == "i-aaaaaaaa"


values = st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=0, max_size=8)


@given(st.dictionaries(st.sampled_from([f"i-{n:08x}" for n in range(6)]), values, min_size=1),
       st.floats(1, 99), st.integers(1, 5))
def test_the_chosen_instance_breaches_and_no_other_is_worse(data: dict[str, list[float | None]],
                                                            threshold: float, needed: int) -> None:
    fleet = {i: series(*v) for i, v in data.items()}
    chosen = select_worst(fleet, threshold, needed, 5, "mem")
    for points in fleet.values():
        window = points[-5:]
        breaching = sum(1 for _, v in window if v > threshold)
        if chosen.instance_id is None:
            assert breaching < needed  # nothing to do only when nobody breaches enough
        elif breaching >= needed:
            assert window[-1][1] <= (chosen.value or 0)  # nobody breaching is worse than the choice


def test_a_named_instance_result_in_full() -> None:
    # every field written by hand
    breaching = evaluate_named("i-aaaaaaaa", series(50, 70, 70), 65, 2, 3, "mem")
    assert breaching == Selection("i-aaaaaaaa", 70, 2, "i-aaaaaaaa was named and has mem 70 above 65 in 2 of the "
                                  "last 3 datapoints", 1, 1, 1)
    quiet = evaluate_named("i-aaaaaaaa", series(50, 50, 70), 65, 2, 3, "mem")
    assert quiet == Selection(None, 70, 1, "i-aaaaaaaa was named but has mem above 65 in only 1 of the last 3 "
                              "datapoints (needs 2)", 1, 1, 0)
    silent = evaluate_named("i-aaaaaaaa", series(), 65, 2, 3, "mem")
    assert silent == Selection(None, None, 0, "i-aaaaaaaa was named but has mem above 65 in only 0 of the last 3 "
                               "datapoints (needs 2)", 1, 0, 0)
