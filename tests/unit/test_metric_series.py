"""Which of an instance's series the selection reads, and how several become one (steps/aws/cloudwatch.py)."""

from __future__ import annotations

from steps.aws.cloudwatch import combine, series_to_read

IID = "i-0123456789abcdef0"
FULL_SMALL = (("ImageId", "ami-1"), ("InstanceId", IID), ("InstanceType", "t3.small"))
FULL_LARGE = (("ImageId", "ami-1"), ("InstanceId", IID), ("InstanceType", "m5.large"))
ALONE = (("InstanceId", IID),)


def test_the_instance_id_only_rollup_is_read_alone_when_it_exists() -> None:
    # aggregation_dimensions [["InstanceId"]]: the rollup already holds every series of the instance
    assert series_to_read([ALONE, FULL_SMALL], IID) == [ALONE]


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
