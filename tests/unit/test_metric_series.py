"""Which of an instance's series the selection reads, and how several become one (steps/aws/cloudwatch.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest

from steps.aws import clients, cloudwatch
from steps.aws.cloudwatch import (
    INSTANCE_ID,
    DimensionSet,
    MetricQuery,
    combine,
    discover_and_read,
    discover_dimension_sets,
    merge,
    series_to_read,
)
from steps.core.exceptions import AwsCallFailed, AwsUnavailable, MetricListingTooLarge

IID = "i-0123456789abcdef0"
FULL_SMALL = (("ImageId", "ami-1"), ("InstanceId", IID), ("InstanceType", "t3.small"))
FULL_LARGE = (("ImageId", "ami-1"), ("InstanceId", IID), ("InstanceType", "m5.large"))
ALONE = (("InstanceId", IID),)


def test_the_instance_id_only_rollup_is_read_with_the_other_sets() -> None:
    # aggregation_dimensions [["InstanceId"]]: the rollup holds every series of the instance, but it may be
    # stale (listed up to three hours after its last datapoint), so the other sets are read too
    assert series_to_read([ALONE, FULL_SMALL], IID) == [ALONE, FULL_SMALL]


def test_merge_prefers_the_rollup_where_it_has_datapoints() -> None:
    rollup = [(0.0, 70.0)]
    full = [(0.0, 10.0), (60.0, 90.0)]
    assert merge("Average", IID, [(ALONE, rollup), (FULL_SMALL, full)]) == [(0.0, 70.0), (60.0, 90.0)]
    assert merge("Average", IID, [(ALONE, []), (FULL_SMALL, full)]) == full
    assert merge("Maximum", IID, [(FULL_LARGE, [(0.0, 5.0)]), (FULL_SMALL, full)]) == [(0.0, 10.0), (60.0, 90.0)]


def test_without_a_rollup_every_set_is_read() -> None:
    # e.g. a stop, modify (t3.small -> m5.large), start within the window: two sets, both read
    assert series_to_read([FULL_LARGE, FULL_SMALL], IID) == [FULL_LARGE, FULL_SMALL]
    assert series_to_read([], IID) == []


def test_the_declared_dimensions_filter_the_discovered_sets() -> None:
    assert series_to_read([FULL_LARGE, FULL_SMALL], IID, (("InstanceType", "m5.large"),)) == [FULL_LARGE]
    # the rollup lacks the filtered dimension, so the filter passes over it
    assert series_to_read([ALONE, FULL_SMALL], IID, (("ImageId", "ami-1"),)) == [FULL_SMALL]
    assert series_to_read([ALONE, FULL_SMALL], IID, (("ImageId", "ami-2"),)) == []


def test_several_series_combine_per_timestamp_by_statistic() -> None:
    before = [(0.0, 40.0), (60.0, 50.0)]  # old type, until the stop
    after = [(60.0, 70.0), (120.0, 90.0)]  # new type, from the start (one minute overlaps)
    assert combine("Average", [before, after]) == [(0.0, 40.0), (60.0, 60.0), (120.0, 90.0)]
    assert combine("Maximum", [before, after]) == [(0.0, 40.0), (60.0, 70.0), (120.0, 90.0)]
    assert combine("Minimum", [before, after]) == [(0.0, 40.0), (60.0, 50.0), (120.0, 90.0)]
    assert combine("Sum", [before, after]) == [(0.0, 40.0), (60.0, 120.0), (120.0, 90.0)]


# -- the stale rollup, discovery's bounds, GetMetricData's StatusCode (stubbed CloudWatch client) ------------
T0 = 1_700_000_000.0
START, END = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 300, UTC)


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset, UTC)


class FakeCloudWatch:
    """ListMetrics answers ``listed`` (instance id -> sets) in ``pages`` pages; GetMetricData answers ``data``
    (set -> points) with ``status`` (set -> StatusCode). Every request is kept."""

    def __init__(self, listed: dict[str, list[DimensionSet]], data: dict[DimensionSet, list[tuple[float, float]]],
                 status: dict[DimensionSet, str] | None = None, pages: int = 1) -> None:
        self.listed, self.data, self.status, self.pages = listed, data, status or {}, pages
        self.list_requests: list[dict[str, Any]] = []
        self.data_requests: list[dict[str, Any]] = []

    def list_metrics(self, **request: Any) -> dict[str, Any]:
        self.list_requests.append(request)
        [dimension] = request["Dimensions"]
        sets = [s for i, sets in self.listed.items() for s in sets
                if "Value" not in dimension or dimension["Value"] == i]
        response: dict[str, Any] = {"Metrics": [
            {"Namespace": request["Namespace"], "MetricName": request["MetricName"],
             "Dimensions": [{"Name": k, "Value": v} for k, v in s]} for s in sets]}
        if len(self.list_requests) < self.pages:  # the same page again: only the count matters here
            response["NextToken"] = f"t{len(self.list_requests)}"
        return response

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.data_requests.append(request)
        results = []
        for query in request["MetricDataQueries"]:
            dims = tuple(sorted((d["Name"], d["Value"]) for d in query["MetricStat"]["Metric"]["Dimensions"]))
            points = self.data.get(dims, [])
            status = self.status.get(dims, "Complete")
            result: dict[str, Any] = {"Id": query["Id"], "StatusCode": status,
                                      "Timestamps": [at(t) for t, _ in points], "Values": [v for _, v in points]}
            if status == "Forbidden":
                result["Messages"] = [{"Code": "Forbidden", "Value": "not authorized"}]
            results.append(result)
        return {"MetricDataResults": results}


@pytest.fixture
def use_fake() -> Iterator[Callable[[FakeCloudWatch], FakeCloudWatch]]:
    with ExitStack() as stack:
        def use(fake: FakeCloudWatch) -> FakeCloudWatch:
            stack.enter_context(clients.bound(clients.Aws({"cloudwatch": fake}.__getitem__)))
            return fake
        yield use


def query(instance_id: str = IID, stat: str = "Average") -> MetricQuery:
    return MetricQuery(instance_id, "CWAgent", "mem_used_percent", stat, 60)


def test_a_stale_rollup_does_not_hide_the_live_full_set(use_fake: Any) -> None:
    # GIVEN aggregation_dimensions was removed from the agent's config: ListMetrics still lists the rollup
    # (RecentlyActive=PT3H) but it has no datapoint in the window, while the full set is live and leaking
    fake = use_fake(FakeCloudWatch({IID: [ALONE, FULL_SMALL]}, {FULL_SMALL: [(0, 85.0), (60, 86.0), (120, 87.0)]}))
    # WHEN the selection reads the instance
    series, read = discover_and_read([query()], START, END)
    # THEN the full set's datapoints are its series
    assert series[IID] == [(T0, 85.0), (T0 + 60, 86.0), (T0 + 120, 87.0)]
    assert sorted(read[IID]) == sorted([ALONE, FULL_SMALL])
    # AND both sets were read in one GetMetricData call (no call per instance)
    assert len(fake.data_requests) == 1 and len(fake.data_requests[0]["MetricDataQueries"]) == 2


def test_a_live_rollup_is_preferred_and_the_full_set_fills_only_its_gaps(use_fake: Any) -> None:
    # GIVEN a rollup live until 60 s (then the agent's config dropped it) and a full set live throughout
    use_fake(FakeCloudWatch({IID: [ALONE, FULL_SMALL]},
                            {ALONE: [(0, 70.0), (60, 71.0)], FULL_SMALL: [(0, 10.0), (60, 11.0), (120, 90.0)]}))
    series, _ = discover_and_read([query()], START, END)
    # THEN the rollup's datapoints where it has them, the full set's after
    assert series[IID] == [(T0, 70.0), (T0 + 60, 71.0), (T0 + 120, 90.0)]


def test_a_small_group_is_looked_up_by_instance_id_value(use_fake: Any) -> None:
    ids = [f"i-{n:017x}" for n in range(cloudwatch.SMALL_GROUP)]
    fake = use_fake(FakeCloudWatch({i: [((INSTANCE_ID, i),)] for i in ids}, {}))
    found = discover_dimension_sets("CWAgent", "mem_used_percent", ids)
    assert found == {i: [((INSTANCE_ID, i),)] for i in ids}
    # one ListMetrics per instance, each by its value: never a listing of the whole metric
    assert [r["Dimensions"] for r in fake.list_requests] == [[{"Name": INSTANCE_ID, "Value": i}] for i in ids]
    assert all(r["RecentlyActive"] == "PT3H" for r in fake.list_requests)


def test_a_larger_group_lists_the_metric_once(use_fake: Any) -> None:
    ids = [f"i-{n:017x}" for n in range(cloudwatch.SMALL_GROUP + 1)]
    fake = use_fake(FakeCloudWatch({i: [((INSTANCE_ID, i),)] for i in ids}, {}))
    found = discover_dimension_sets("CWAgent", "mem_used_percent", ids)
    assert all(found[i] == [((INSTANCE_ID, i),)] for i in ids)
    assert [r["Dimensions"] for r in fake.list_requests] == [[{"Name": INSTANCE_ID}]]


def test_the_account_wide_listing_stops_at_its_page_cap_and_says_so(use_fake: Any) -> None:
    # GIVEN an account whose listing of the metric never ends (e.g. 200,000 series: 400 pages)
    ids = [f"i-{n:017x}" for n in range(cloudwatch.SMALL_GROUP + 1)]
    fake = use_fake(FakeCloudWatch({i: [((INSTANCE_ID, i),)] for i in ids}, {}, pages=400))
    # WHEN the group's sets are discovered
    with pytest.raises(MetricListingTooLarge) as raised:
        discover_dimension_sets("CWAgent", "mem_used_percent", ids)
    # THEN it stops at the cap, with an error naming the metric, the pages read and the fix
    assert len(fake.list_requests) == cloudwatch.LIST_PAGE_CAP
    message = str(raised.value)
    assert "CWAgent/mem_used_percent" in message and f"after {cloudwatch.LIST_PAGE_CAP} pages" in message
    assert "namespace of its own" in message and "nothing was selected" in message


def test_the_listing_stops_at_its_time_budget(use_fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN ListMetrics pages that take 5 s each (a clock that moves 5 s per reading)
    ticks = iter(range(0, 10_000, 5))
    monkeypatch.setattr(cloudwatch, "_clock", lambda: float(next(ticks)))
    ids = [f"i-{n:017x}" for n in range(cloudwatch.SMALL_GROUP + 1)]
    fake = use_fake(FakeCloudWatch({i: [((INSTANCE_ID, i),)] for i in ids}, {}, pages=400))
    with pytest.raises(MetricListingTooLarge, match=r"time budget of 12 s after \d+ pages"):
        discover_dimension_sets("CWAgent", "mem_used_percent", ids)
    assert 1 <= len(fake.list_requests) < cloudwatch.LIST_PAGE_CAP


def test_an_internal_error_status_is_retried_not_read_as_no_data(use_fake: Any) -> None:
    use_fake(FakeCloudWatch({IID: [FULL_SMALL]}, {}, status={FULL_SMALL: "InternalError"}))
    with pytest.raises(AwsUnavailable, match="StatusCode InternalError"):
        discover_and_read([query()], START, END)


def test_a_forbidden_status_fails_naming_the_metric(use_fake: Any) -> None:
    use_fake(FakeCloudWatch({IID: [FULL_SMALL]}, {}, status={FULL_SMALL: "Forbidden"}))
    with pytest.raises(AwsCallFailed) as raised:
        discover_and_read([query()], START, END)
    assert "CWAgent/mem_used_percent" in str(raised.value) and "Forbidden" in str(raised.value)


def test_partial_data_follows_next_token(use_fake: Any) -> None:
    class Paged(FakeCloudWatch):
        def get_metric_data(self, **request: Any) -> dict[str, Any]:
            self.data_requests.append(request)
            qid = request["MetricDataQueries"][0]["Id"]
            if "NextToken" not in request:
                return {"MetricDataResults": [{"Id": qid, "StatusCode": "PartialData", "Timestamps": [at(0)],
                                               "Values": [80.0]}], "NextToken": "more"}
            return {"MetricDataResults": [{"Id": qid, "StatusCode": "Complete", "Timestamps": [at(60)],
                                           "Values": [81.0]}]}

    fake = use_fake(Paged({IID: [FULL_SMALL]}, {}))
    series, _ = discover_and_read([query()], START, END)
    assert series[IID] == [(T0, 80.0), (T0 + 60, 81.0)]
    assert [r.get("NextToken") for r in fake.data_requests] == [None, "more"]
