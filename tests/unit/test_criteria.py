"""The selection criteria (steps/domain/criteria.py), the fail-open guard and the first rung: pure functions,
with hypothesis where the logic branches."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from steps.core.config import GroupConfig
from steps.core.reasons import Reason
from steps.domain import admission, criteria
from steps.domain.capacity import healthy_after_removal, refusing_fail_open
from steps.domain.criteria import Sighting, StatusChecks, TargetHealth

TG1 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/0123456789abcdef"
TG2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-http/0123456789abcdef"
NOW = 1_000_000.0


# -- unhealthy_target --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "reason", "counted"), [
    ("unhealthy", "Target.FailedHealthChecks", True),
    ("unhealthy", "Target.Timeout", True),
    ("unhealthy", "Target.ResponseCodeMismatch", True),
    ("unhealthy", "Elb.InternalError", False),  # the load balancer's problem, not the instance's
    ("initial", "Elb.RegistrationInProgress", False),
    ("initial", "Elb.InitialHealthChecking", False),
    ("draining", "Target.DeregistrationInProgress", False),
    ("unhealthy.draining", "Target.DeregistrationInProgress", False),
    ("unused", "Target.NotRegistered", False),
    ("healthy", None, False),
])
def test_only_health_check_failures_count_as_an_unhealthy_target(state: str, reason: str | None,
                                                                  counted: bool) -> None:
    health = {TG1: {"i-1": TargetHealth(state, reason)}}
    assert ("i-1" in criteria.failing_health_checks(health)) is counted


def test_an_unhealthy_target_is_due_only_after_for_seconds_since_first_seen() -> None:
    health = {TG1: {"i-1": TargetHealth("unhealthy", "Target.FailedHealthChecks")}, TG2: {}}
    failing = criteria.failing_health_checks(health)
    seen = criteria.first_seen(failing, {}, NOW, {"i-1": 60.0})
    assert seen == {"i-1": Sighting(NOW, NOW)}  # first sighting: counts from now
    assert not criteria.unhealthy_targets(health, seen, NOW, 120)[0].due
    # seen again every 50 s (under the 60 s gap): the first sighting carries
    for at in (NOW + 50, NOW + 100):
        seen = criteria.first_seen(failing, seen, at, {"i-1": 60.0})
    later = criteria.unhealthy_targets(health, seen, NOW + 100, 120, {"i-1": 60.0})[0]
    assert not later.due and later.seconds == 100
    seen = criteria.first_seen(failing, seen, NOW + 120, {"i-1": 60.0})
    due = criteria.unhealthy_targets(health, seen, NOW + 120, 120, {"i-1": 60.0})[0]
    assert due.due and due.code == Reason.UNHEALTHY_TARGET
    assert due.details()["target_groups"] == {TG1: "Target.FailedHealthChecks"}
    assert (due.numbers["first_seen"], due.numbers["last_seen"], due.numbers["max_gap_seconds"],
            due.numbers["restarted"]) == (NOW, NOW + 100, 60.0, False)


def test_a_first_sighting_carries_within_the_gap_and_restarts_beyond_it() -> None:
    remembered = {"i-1": Sighting(NOW - 600, NOW - 59), "i-2": Sighting(NOW - 600, NOW - 60),
                  "i-3": Sighting(NOW - 600, NOW - 3600)}
    seen = criteria.first_seen({"i-1", "i-2", "i-3", "i-4"}, remembered, NOW, {"i-1": 60.0, "i-2": 60.0, "i-3": 60.0})
    assert seen["i-1"] == Sighting(NOW - 600, NOW, previous=NOW - 59)  # seen 59 s ago: carried
    assert seen["i-2"] == Sighting(NOW, NOW, previous=NOW - 60, restarted=True)  # 60 s: a cycle may fit
    assert seen["i-3"] == Sighting(NOW, NOW, previous=NOW - 3600, restarted=True)
    assert seen["i-4"] == Sighting(NOW, NOW)  # never seen before
    # a target group whose settings are unknown carries nothing
    assert criteria.first_seen({"i-1"}, remembered, NOW, {})["i-1"].first == NOW


def test_a_last_sighting_after_now_never_carries() -> None:
    # rev16c: a remembered last sighting in the future (a garbled item, a writer whose clock ran ahead) made
    # `now - last` negative, always below the gap: the first sighting carried, however old, and an instance first
    # "seen" an hour ago was due at once on its first sighting of this failure. It cannot be trusted: start again.
    health = {TG1: {"i-1": TargetHealth("unhealthy", "Target.Timeout")}}
    remembered = {"i-1": Sighting(NOW - 3600, NOW + 30)}
    seen = criteria.first_seen({"i-1"}, remembered, NOW, {"i-1": 60.0})
    assert seen["i-1"].first == NOW and seen["i-1"].restarted
    [failing] = criteria.unhealthy_targets(health, seen, NOW, 300, {"i-1": 60.0})
    assert not failing.due
    # a last sighting exactly now (two selections in the same second) still carries
    assert criteria.first_seen({"i-1"}, {"i-1": Sighting(NOW - 100, NOW)}, NOW, {"i-1": 60.0})["i-1"].first == NOW - 100


def test_a_restarted_sighting_is_in_the_watching_numbers_and_the_sentence() -> None:
    health = {TG1: {"i-1": TargetHealth("unhealthy", "Target.Timeout")}}
    seen = criteria.first_seen({"i-1"}, {"i-1": Sighting(NOW - 7200, NOW - 3600)}, NOW, {"i-1": 20.0})
    [failing] = criteria.unhealthy_targets(health, seen, NOW, 300, {"i-1": 20.0})
    assert "seen failing 3600 s before, too long ago to carry (at most 20 s)" in failing.sentence
    assert criteria.watching([failing]) == [{"instance_id": "i-1", "criterion": "unhealthy_target", "seconds": 0.0,
                                             "for_seconds": 300, "first_seen": NOW, "last_seen": NOW - 3600,
                                             "max_gap_seconds": 20.0, "restarted": True}]


def test_the_gap_is_unhealthy_threshold_times_interval_the_smallest_where_the_target_is_registered() -> None:
    # 2 failed checks every 30 s: 60 s; 3 every 10 s: 30 s (HealthyThresholdCount does not enter: the passed
    # checks that make it healthy may all come before the look that saw it unhealthy, but one)
    assert criteria.recover_and_fail_seconds(30, 2) == 60
    assert criteria.recover_and_fail_seconds(10, 3) == 30
    health = {TG1: {"i-1": TargetHealth("unhealthy", "Target.FailedHealthChecks"), "i-2": TargetHealth("healthy")},
              TG2: {"i-1": TargetHealth("healthy")}}
    assert criteria.max_gaps(health, {TG1: 60.0, TG2: 30.0}) == {"i-1": 30.0, "i-2": 60.0}
    assert criteria.max_gaps(health, {TG1: 60.0}) == {"i-1": 0.0, "i-2": 60.0}  # TG2 unknown: never carry


@given(st.dictionaries(st.sampled_from(["i-1", "i-2", "i-3", "i-4"]),
                       st.tuples(st.floats(0, NOW * 2), st.floats(0, NOW * 2)), max_size=4),
       st.sets(st.sampled_from(["i-1", "i-2", "i-3", "i-4"])), st.floats(0, 600))
def test_first_seen_keeps_only_failing_instances_and_never_a_future_time(remembered: dict[str, tuple[float, float]],
                                                                         failing: set[str], gap: float) -> None:
    before = {i: Sighting(first, last) for i, (first, last) in remembered.items()}
    seen = criteria.first_seen(failing, before, NOW, dict.fromkeys(before, gap))
    assert set(seen) == failing
    for instance_id, at in seen.items():
        assert at.first <= NOW and at.last == NOW
        carried = instance_id in before and 0 <= NOW - before[instance_id].last < gap  # never from a future last
        assert at.first == (min(before[instance_id].first, NOW) if carried else NOW)


@given(st.lists(st.floats(0.5, 300), min_size=1, max_size=30), st.floats(1, 120))
def test_the_first_sighting_is_the_start_of_the_unbroken_chain_of_sightings(steps: list[float], gap: float) -> None:
    # Selections see the target failing at t0 < t1 < ...; the first sighting never precedes the earliest
    # sighting of the last chain whose steps are each shorter than the gap, and a step of the gap or more resets.
    times = [NOW]
    for step in steps:
        times.append(times[-1] + step)
    seen: dict[str, Sighting] = {}
    chain_start = times[0]
    for previous, at in zip([None, *times], times, strict=False):
        if previous is not None and at - previous >= gap:
            chain_start = at
        seen = criteria.first_seen({"i-1"}, seen, at, {"i-1": gap})
        assert seen["i-1"].first == chain_start and seen["i-1"].last == at
        assert seen["i-1"].restarted is (previous is not None and at - previous >= gap)


# -- watching an unhealthy target (criteria.watch) ------------------------------------------------------------


def target(instance_id: str, first: float, for_seconds: int, gap: float | None, now: float = NOW) -> criteria.Failing:
    health = {TG1: {instance_id: TargetHealth("unhealthy", "Target.FailedHealthChecks")}}
    gaps = {} if gap is None else {instance_id: gap}
    return criteria.unhealthy_targets(health, {instance_id: Sighting(first, now)}, now, for_seconds, gaps)[0]


def test_the_watch_looks_again_within_half_the_smallest_gap_and_ends_one_gap_after_the_latest_due_time() -> None:
    slow = target("i-1", NOW - 10, 120, 60.0)  # due in 110 s; its sightings carry across < 60 s
    soon = target("i-2", NOW - 30, 120, 30.0)  # due in 90 s; < 30 s
    watch = criteria.watch([slow, soon], NOW)
    assert watch is not None
    assert watch.seconds == 15  # half of 30 s: strictly under the smallest gap, with room for a late Wait
    assert watch.until == NOW - 10 + 120 + 60  # the latest due time (i-1's) plus its gap
    assert [w["instance_id"] for w in watch.instances] == ["i-2", "i-1"]  # the longest failing first
    assert watch.instances[1] == {"instance_id": "i-1", "first_seen": NOW - 10, "for_seconds": 120,
                                  "due_at": NOW + 110, "max_gap_seconds": 60.0}
    # no longer than until the earliest one is due: 4.5 s left -> look again in 5 s (then it is due)
    almost = target("i-3", NOW - 115.5, 120, 60.0)
    assert criteria.watch([almost], NOW).seconds == 5  # type: ignore[union-attr]


def test_a_carried_deadline_is_kept_and_the_watch_ends_when_it_passes() -> None:
    failing = target("i-1", NOW - 10, 120, 60.0)
    assert criteria.watch([failing], NOW, until=NOW + 12).seconds == 12  # type: ignore[union-attr]
    assert criteria.watch([failing], NOW, until=NOW + 200).until == NOW + 200  # type: ignore[union-attr]
    assert criteria.watch([failing], NOW, until=NOW + 0.5) is None  # less than a second left
    assert criteria.watch([failing], NOW, until=NOW - 1) is None


def test_nothing_is_watched_without_a_not_yet_due_unhealthy_target_with_a_known_gap() -> None:
    assert criteria.watch([], NOW) is None
    assert criteria.watch([target("i-1", NOW - 200, 120, 60.0)], NOW) is None  # due: it is selected instead
    assert criteria.watch([target("i-1", NOW, 120, None)], NOW) is None  # gap unknown: nothing carries anyway
    assert criteria.watch([target("i-1", NOW, 120, 0.0)], NOW) is None
    # the other failing criteria know since when without watching: never watched
    impaired = criteria.impaired({"i-2": StatusChecks(instance="impaired", instance_since=NOW - 5)}, NOW, 300)
    silent = criteria.silent({"i-3": [], "i-4": [(NOW - 120, 1.0)]}, ["i-3", "i-4"], NOW - 3600, NOW, 60, 300,
                             launched={"i-3": NOW - 100})
    assert impaired and silent and not impaired[0].due and not silent[0].due
    assert criteria.watch([*impaired, *silent], NOW) is None


FAILING_TARGETS = st.lists(st.tuples(st.floats(0, 3000), st.integers(1, 3600), st.floats(1.01, 3000)),
                           min_size=1, max_size=5)


@given(FAILING_TARGETS, st.one_of(st.none(), st.floats(-100, 7000)))
def test_the_next_look_always_comes_inside_every_watched_gap_and_never_past_the_deadline(
        targets: list[tuple[float, int, float]], until_in: float | None) -> None:
    found = [target(f"i-{n}", NOW - ago, for_seconds, gap) for n, (ago, for_seconds, gap) in enumerate(targets)]
    watched = [f for f in found if not f.due]
    until = None if until_in is None else NOW + until_in
    watch = criteria.watch(found, NOW, until)
    if not watched or (until is not None and until - NOW < 1):
        assert watch is None
        return
    assert watch is not None
    assert 0 < watch.seconds < min(f.numbers["max_gap_seconds"] for f in watched)
    assert NOW + watch.seconds <= watch.until
    assert watch.until == (until if until is not None else
                           max(f.since + f.for_seconds + f.numbers["max_gap_seconds"] for f in watched))
    assert watch.seconds <= max(1, math.ceil(min(f.since + f.for_seconds for f in watched) - NOW))


@given(st.integers(10, 3000), st.integers(1, 3600), st.floats(0, 0.45))
def test_an_unbroken_failure_watched_this_way_becomes_due_before_the_deadline(gap: int, for_seconds: int,
                                                                              late: float) -> None:
    # Each Wait may end late (Step Functions, a cold Lambda) by up to 45 % of the gap: the sighting still carries.
    now, seen, until = NOW, {}, None
    for _ in range(10_000):
        seen = criteria.first_seen({"i-1"}, seen, now, {"i-1": float(gap)})
        assert not seen["i-1"].restarted
        [failing] = criteria.unhealthy_targets({TG1: {"i-1": TargetHealth("unhealthy", "Target.Timeout")}}, seen,
                                               now, for_seconds, {"i-1": float(gap)})
        if failing.due:
            assert failing.since == NOW and (until is None or now <= until)
            return
        watch = criteria.watch([failing], now, until)
        assert watch is not None
        until = watch.until
        now += watch.seconds + late * gap
    raise AssertionError("never due")


# -- status_check ------------------------------------------------------------------------------------------

def test_a_system_impairment_asks_for_stop_start_first_an_instance_impairment_does_not() -> None:
    found = criteria.impaired({"i-1": StatusChecks(system="impaired", system_since=NOW - 600),
                               "i-2": StatusChecks(instance="impaired", instance_since=NOW - 600),
                               "i-3": StatusChecks()}, NOW, 300)
    by_id = {f.instance_id: f for f in found}
    assert set(by_id) == {"i-1", "i-2"}
    assert by_id["i-1"].first_rung == "stop_start" and by_id["i-1"].details()["check"] == "system"
    assert by_id["i-2"].first_rung is None and "first_rung" not in by_id["i-2"].details()
    assert by_id["i-1"].seconds == by_id["i-2"].seconds == 600 and by_id["i-1"].due


def test_impaired_for_less_than_for_seconds_or_with_no_impaired_since_is_not_due() -> None:
    found = criteria.impaired({"i-1": StatusChecks(instance="impaired", instance_since=NOW - 299),
                               "i-2": StatusChecks(system="impaired")}, NOW, 300)
    assert [f.due for f in found] == [False, False]
    assert criteria.ordered(found) == []


# -- silent ------------------------------------------------------------------------------------------------

LONG_AGO = NOW - 86_400.0  # launched a day before: LaunchTime bounds nothing in the read window


def launched_long_ago(*ids: str) -> dict[str, float]:
    return dict.fromkeys(ids, LONG_AGO)


def test_silent_needs_a_peer_reporting_and_for_seconds_of_silence() -> None:
    end = NOW
    series = {"i-1": [(end - 600, 40.0)], "i-2": [(end - 60, 40.0)], "i-3": []}
    found = {f.instance_id: f for f in criteria.silent(series, ["i-1", "i-2", "i-3"], end - 900, end, 60, 300,
                                                       launched=launched_long_ago("i-1", "i-2", "i-3"))}
    assert set(found) == {"i-1", "i-3"}  # i-2 reports
    assert found["i-1"].since == end - 540 and found["i-1"].due  # last datapoint's period ended 540 s ago
    assert found["i-3"].since == end - 900 and found["i-3"].numbers["last_datapoint"] is None
    assert found["i-1"].numbers["launch_time"] == LONG_AGO and found["i-1"].details()["launch_time"] == LONG_AGO
    # AND an instance not eligible (not running, only `initial`) is never silent
    assert criteria.silent(series, ["i-2"], end - 900, end, 60, 300, launched=launched_long_ago("i-2")) == []


def test_nobody_is_silent_when_no_instance_reports() -> None:
    series: dict[str, list[tuple[float, float]]] = {"i-1": [], "i-2": [(NOW - 600, 40.0)]}
    assert criteria.silent(series, ["i-1", "i-2"], NOW - 900, NOW, 60, 300,
                           launched=launched_long_ago("i-1", "i-2")) == []
    assert criteria.quiet(series, ["i-1", "i-2"], NOW, 300) == []


@pytest.mark.parametrize(("launched_ago", "silent_seconds", "due"), [
    (60.0, 60.0, False),      # started again a minute ago: its last datapoint before the stop does not count
    (299.0, 299.0, False),    # one second short of T since its launch
    (300.0, 300.0, True),     # silent T since its launch: due
    (3_600.0, 540.0, True),   # launched long ago: silent since its last datapoint's period ended
    (-30.0, 0.0, False),      # launched after the readable edge: silent for nothing yet
])
def test_silence_never_counts_from_before_the_launch_time(launched_ago: float, silent_seconds: float,
                                                          due: bool) -> None:
    # i-1's last datapoint is 600 s old (its period ended 540 s ago); i-2 reports.
    series = {"i-1": [(NOW - 600, 40.0)], "i-2": [(NOW - 60, 40.0)]}
    launched = {"i-1": NOW - launched_ago, "i-2": LONG_AGO}
    [found] = criteria.silent(series, ["i-1", "i-2"], NOW - 900, NOW, 60, 300, launched=launched)
    assert (found.instance_id, found.seconds, found.due) == ("i-1", silent_seconds, due)
    assert found.numbers["launch_time"] == NOW - launched_ago
    assert criteria.ordered([found]) == ([found] if due else [])


def test_a_fresh_instance_with_no_datapoint_at_all_counts_from_its_launch_not_the_read_window() -> None:
    series = {"i-new": [], "i-2": [(NOW - 60, 40.0)]}
    launched = {"i-new": NOW - 120, "i-2": LONG_AGO}
    [found] = criteria.silent(series, ["i-new", "i-2"], NOW - 900, NOW, 60, 300, launched=launched)
    assert (found.since, found.seconds, found.due) == (NOW - 120, 120.0, False)


def test_an_instance_ec2_gives_no_launch_time_for_is_watched_never_due() -> None:
    series = {"i-1": [(NOW - 600, 40.0)], "i-2": [(NOW - 60, 40.0)]}
    [found] = criteria.silent(series, ["i-1", "i-2"], NOW - 900, NOW, 60, 300, launched={"i-2": LONG_AGO})
    assert (found.instance_id, found.seconds, found.due) == ("i-1", 0.0, False)
    assert found.numbers["launch_time"] is None and "no LaunchTime" in found.sentence
    assert criteria.watching([found]) == [{"instance_id": "i-1", "criterion": "silent", "seconds": 0.0,
                                           "for_seconds": 300}]


datapoint_times = st.lists(st.integers(0, 30).map(lambda k: NOW - 60.0 * k), max_size=6)


@given(mine=datapoint_times, peer=datapoint_times, launched_ago=st.floats(-600, 7_200),
       for_seconds=st.sampled_from([60, 300, 900]))
def test_silence_never_exceeds_the_time_since_launch_and_is_due_only_after_t_of_it(
        mine: list[float], peer: list[float], launched_ago: float, for_seconds: int) -> None:
    end, window_start = NOW, NOW - 1_800
    series = {"i-1": [(t, 40.0) for t in mine], "i-2": [(t, 40.0) for t in peer]}
    launch = end - launched_ago
    found = criteria.silent(series, ["i-1", "i-2"], window_start, end, 60, for_seconds,
                            launched={"i-1": launch, "i-2": launch})
    for f in found:
        assert 0 <= f.seconds <= max(0.0, end - launch)  # the readable edge is never after now: <= now - launch
        assert f.since >= min(launch, end)
        assert not f.due or end - launch >= for_seconds  # launched less than T ago: never silent
        assert not any(t >= end - for_seconds for t, _ in series[f.instance_id])  # and it really is quiet


# -- priority ----------------------------------------------------------------------------------------------

failings = st.builds(
    criteria.Failing, instance_id=st.sampled_from(["i-a", "i-b", "i-c"]),
    criterion=st.sampled_from(list(criteria.PRIORITY)), since=st.floats(NOW - 3600, NOW),
    seconds=st.floats(0, 3600), for_seconds=st.integers(0, 3600), sentence=st.just(""),
    first_rung=st.sampled_from([None, "stop_start"]))


@given(st.lists(failings, max_size=8))
def test_ordered_keeps_only_due_failures_status_checks_first_then_targets_then_silence(
        found: list[criteria.Failing]) -> None:
    ordered = criteria.ordered(found)
    assert all(f.seconds >= f.for_seconds for f in ordered)
    assert len(ordered) == sum(1 for f in found if f.seconds >= f.for_seconds)
    ranks = [criteria.PRIORITY.index(f.criterion) for f in ordered]
    assert ranks == sorted(ranks)
    for a, b in pairwise(ordered):
        if a.criterion == b.criterion and bool(a.first_rung) == bool(b.first_rung):
            assert a.since <= b.since  # the longest failing first


# -- capacity: honest with an unhealthy instance, never while failing open ---------------------------------

states = st.sampled_from(["healthy", "unhealthy", "initial", "draining", "unavailable"])


@given(st.dictionaries(st.sampled_from([TG1, TG2]), st.lists(states, min_size=1, max_size=12), min_size=1),
       st.integers(0, 6), st.integers(0, 100), st.data())
def test_taking_out_a_target_that_is_not_healthy_never_lowers_the_healthy_count_and_fail_open_refuses(
        groups: dict[str, list[str]], min_healthy: int, percent: int, data: st.DataObject) -> None:
    members = {tg: {f"i-{k}": s for k, s in enumerate(listed)} for tg, listed in groups.items()}
    candidate = data.draw(st.sampled_from(sorted({i for m in members.values() for i in m})))
    decision = refusing_fail_open(healthy_after_removal(members, candidate, min_healthy, percent), members)
    for check in decision.checks:
        unhealthy_candidate = members[check.target_group].get(candidate) != "healthy"
        assert (check.healthy_after == check.healthy_now) is unhealthy_candidate
    fail_open = [tg for tg, m in members.items() if "healthy" not in m.values() and "unhealthy" in m.values()]
    if fail_open:
        assert not decision.allowed and decision.skip_code == Reason.SKIPPED_FAIL_OPEN
        assert set(decision.fail_open) == set(fail_open)
    else:
        assert decision.skip_code == Reason.SKIPPED_CAPACITY and decision.fail_open == ()


def test_a_zero_floor_would_allow_it_but_a_failing_open_target_group_refuses() -> None:
    members = {TG1: {"i-1": "unhealthy", "i-2": "unhealthy"}}
    floor_only = healthy_after_removal(members, "i-1", 0, 0)
    assert floor_only.allowed
    guarded = refusing_fail_open(floor_only, members)
    assert not guarded.allowed and "failing open" in guarded.reason and guarded.fail_open == (TG1,)


# -- the first rung ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("reboots", "first_rung", "ladder", "plan"), [
    (0, None, True, admission.REBOOT),
    (0, "stop_start", True, admission.ESCALATE),
    (0, "stop_start", False, admission.REBOOT),  # no ladder: the reboot is all there is
    (3, None, True, admission.ESCALATE),
    (3, "stop_start", True, admission.ESCALATE),
])
def test_a_first_rung_skips_the_reboot_when_there_is_a_ladder(reboots: int, first_rung: str | None, ladder: bool,
                                                             plan: str) -> None:
    assert admission.plan(reboots, 3, ladder, first_rung) == plan


# -- the declaration ---------------------------------------------------------------------------------------

def test_select_defaults_to_the_metric_alone_and_refuses_a_repeated_or_unknown_criterion() -> None:
    base = {"name": "web", "target_group_arns": [TG1]}
    assert [s.criterion for s in GroupConfig.model_validate(base).select] == ["metric"]
    chosen = GroupConfig.model_validate({**base, "select": [{"criterion": "silent", "for_seconds": 600}]})
    assert chosen.selects("silent") is not None and chosen.selects("metric") is None
    with pytest.raises(ValidationError, match="repeated: status_check"):
        GroupConfig.model_validate({**base, "select": [{"criterion": "status_check"}, {"criterion": "status_check"}]})
    with pytest.raises(ValidationError, match="select"):
        GroupConfig.model_validate({**base, "select": [{"criterion": "vibes"}]})
    with pytest.raises(ValidationError, match="select"):
        GroupConfig.model_validate({**base, "select": []})


@pytest.mark.parametrize("for_seconds", [0, 30, 59])
def test_silent_shorter_than_one_metric_period_is_refused_it_could_never_find_anyone(for_seconds: int) -> None:
    # A datapoint is stamped with its period's start: with T under one period no instance has one in the last
    # T seconds, so "nobody reports" and nobody is ever silent: refused, naming the field and the fix.
    assert criteria.silent({"i-1": [(NOW - 60, 40.0)], "i-2": []}, ["i-1", "i-2"], NOW - 900, NOW, 60,
                           for_seconds, launched=launched_long_ago("i-1", "i-2")) == []
    base = {"name": "web", "target_group_arns": [TG1]}
    with pytest.raises(ValidationError, match=r"select: silent for_seconds .* at least metric.period_seconds \(60\)"):
        GroupConfig.model_validate({**base, "select": [{"criterion": "silent", "for_seconds": for_seconds}]})
    GroupConfig.model_validate({**base, "select": [{"criterion": "silent", "for_seconds": 60}]})


def test_for_seconds_on_the_metric_criterion_is_refused_it_would_be_ignored() -> None:
    base = {"name": "web", "target_group_arns": [TG1]}
    with pytest.raises(ValidationError, match=r"metric\.breaching_datapoints"):
        GroupConfig.model_validate({**base, "select": [{"criterion": "metric", "for_seconds": 600}]})
