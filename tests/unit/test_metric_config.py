"""metric.dimensions and metric.stat are refused when GetMetricData or the selection could not use them."""

from __future__ import annotations

import pytest

from steps.core.config import parse_groups
from steps.core.exceptions import ConfigurationError

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def declare(**metric: object) -> dict[str, object]:
    return {"groups": [{"name": "web", "target_group_arns": [ARN], "metric": metric}]}


@pytest.mark.parametrize("value", ["i-0123456789abcdef0", ""])
def test_an_instance_id_dimension_is_refused_with_the_fix(value: str) -> None:
    # InstanceId in the filter would pin the selection to one instance (or, valued wrong, empty it)
    with pytest.raises(ConfigurationError) as raised:
        parse_groups(declare(dimensions={"InstanceType": "t3.small", "InstanceId": value}))
    message = str(raised.value)
    assert "metric.dimensions" in message and "InstanceId" in message
    assert "remove" in message


def test_other_dimensions_are_still_a_filter() -> None:
    metric = parse_groups(declare(dimensions={"AutoScalingGroupName": "web-asg"})).group("web").metric
    assert metric.dimensions == {"AutoScalingGroupName": "web-asg"}


# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
@pytest.mark.parametrize("stat", ["SampleCount", "Average", "Sum", "Minimum", "Maximum", "p99", "p99.9",
                                  "p50", "p0", "p100", "p99.99", "tm90", "TM(2%:98%)", "TM(150:1000)", "IQM",
                                  "wm98", "WM(10%:90%)", "PR(:300)", "PR(100:2000)", "tc90", "TC(0.005:0.030)",
                                  "ts90", "TS(80%:)"])
def test_the_statistics_get_metric_data_accepts_are_accepted(stat: str) -> None:
    assert parse_groups(declare(stat=stat)).group("web").metric.stat == stat


@pytest.mark.parametrize("stat", ["average", "AVERAGE", "Avg", "p", "p101", "P99", "p99.", "pp99", "max",
                                  "TM()", "TM(1:2", "tm", "iqm", " Average", "Average ", "PR(a:b)"])
def test_a_statistic_get_metric_data_does_not_accept_is_refused_naming_the_field(stat: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_groups(declare(stat=stat))
    message = str(raised.value)
    assert "metric.stat" in message and repr(stat) in message
    assert "Average" in message and "p99" in message  # the fix: what it may be
