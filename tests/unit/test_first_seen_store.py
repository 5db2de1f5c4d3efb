"""The unhealthy_target memory in the lock table (steps/store/first_seen.py, moto DynamoDB): first and last
sighting per instance; the earlier format (instance -> first sighting) still loads; and the batched
DescribeTargetGroups that reads the health check settings the carry is bounded by (steps/aws/elbv2.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from steps.aws import elbv2
from steps.store import first_seen


@pytest.fixture
def table() -> Iterator[None]:
    with mock_aws():
        first_seen.FirstSeen.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


def stored(group: str) -> dict[str, Any]:
    return dict(json.loads(first_seen.FirstSeen.get(f"{first_seen.PREFIX}{group}").seen))


def test_first_and_last_sightings_are_saved_and_loaded(table: None) -> None:
    assert first_seen.load("web") == {}
    first_seen.save("web", {"i-2": (900.0, 1000.0), "i-1": (500.0, 1000.0)}, 1000.0)
    assert stored("web") == {"i-1": {"first": 500.0, "last": 1000.0}, "i-2": {"first": 900.0, "last": 1000.0}}
    assert first_seen.load("web") == {"i-1": (500.0, 1000.0), "i-2": (900.0, 1000.0)}
    assert first_seen.load("api") == {}


def test_the_earlier_format_loads_as_first_and_last_at_the_first_sighting(table: None) -> None:
    # A table written before the last sighting was kept: instance -> first sighting.
    first_seen.FirstSeen(f"{first_seen.PREFIX}web", seen=json.dumps({"i-1": 500, "i-2": 750.5}),
                         updated_at=750.5).save()
    assert first_seen.load("web") == {"i-1": (500.0, 500.0), "i-2": (750.5, 750.5)}


def test_a_value_of_any_other_shape_is_dropped_so_the_wait_starts_again(table: None) -> None:
    first_seen.FirstSeen(f"{first_seen.PREFIX}web", seen=json.dumps({
        "i-1": {"first": 500, "last": 600}, "i-2": "500", "i-3": {"first": 500}, "i-4": True, "i-5": None,
        "i-6": {"first": 500, "last": "600"}}), updated_at=600).save()
    assert first_seen.load("web") == {"i-1": (500.0, 600.0)}


@pytest.mark.parametrize("document", ["not json", "[500, 600]", '"i-1"', "null", "7"])
def test_a_stored_document_that_is_not_a_json_object_is_dropped_so_the_wait_starts_again(table: None,
                                                                                        document: str) -> None:
    # rev16c: json.loads raised (JSONDecodeError) or `.items()` did (AttributeError): every selection of the group
    # failed with an error naming neither the item nor the fix, until someone found and deleted it.
    first_seen.FirstSeen(f"{first_seen.PREFIX}web", seen=document, updated_at=600).save()
    assert first_seen.load("web") == {}


def test_a_sighting_that_is_not_finite_or_ends_before_it_starts_is_dropped(table: None) -> None:
    # rev16c: -Infinity/Infinity/NaN (json.dumps writes them, json.loads reads them back) loaded as sightings: a
    # first sighting of -inf carried by a last one of +inf made the instance due at once, for ever.
    first_seen.FirstSeen(f"{first_seen.PREFIX}web", seen=json.dumps({
        "i-1": {"first": float("-inf"), "last": float("inf")}, "i-2": {"first": float("nan"), "last": 600},
        "i-3": float("-inf"), "i-4": {"first": 700, "last": 600}, "i-5": {"first": 500, "last": 600}}),
        updated_at=600).save()
    assert first_seen.load("web") == {"i-5": (500.0, 600.0)}


class _FakeElbv2:
    """DescribeTargetGroups as AWS pages it: PageSize answers at a time, NextMarker until the last page."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []

    def describe_target_groups(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        arns = kwargs["TargetGroupArns"]
        start = int(kwargs.get("Marker", 0))
        page = arns[start:start + self.page_size]
        groups = [{"TargetGroupArn": arn, "HealthCheckIntervalSeconds": 10 + n, "HealthyThresholdCount": 5,
                   "UnhealthyThresholdCount": 2} for n, arn in enumerate(page, start)]
        more = start + self.page_size < len(arns)
        return {"TargetGroups": groups, **({"NextMarker": str(start + self.page_size)} if more else {})}


def test_health_check_settings_are_read_20_target_groups_a_call_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeElbv2(page_size=15)
    monkeypatch.setattr(elbv2, "client", lambda _service: fake)
    arns = [f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg{n:02d}/0" for n in range(25)]
    settings = elbv2.health_check_settings(arns + arns[:3])  # duplicates asked once
    assert [len(r["TargetGroupArns"]) for r in fake.requests] == [20, 20, 5]
    assert [r.get("Marker") for r in fake.requests] == [None, "15", None]
    assert set(settings) == set(arns)
    assert settings[arns[0]] == elbv2.HealthCheckSettings(10, 5, 2)
    assert settings[arns[24]].interval_seconds == 14  # the second batch's fifth
