"""The metric's period must be one GetMetricData can serve for its resolution, and selection reads only
periods whose datapoints are complete and readable despite the ingestion delay."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steps.core.config import parse_groups
from steps.core.exceptions import ConfigurationError
from steps.domain.selection import evaluation_window

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
T0 = 1_700_002_800.0  # a multiple of 3600


def declare(**metric: object) -> dict[str, object]:
    return {"groups": [{"name": "web", "target_group_arns": [ARN], "metric": metric}]}


def test_defaults_are_the_agents_standard_resolution_a_minute_and_a_60_second_delay() -> None:
    metric = parse_groups(declare()).group("web").metric
    assert (metric.period_seconds, metric.resolution_seconds, metric.ingestion_delay_seconds) == (60, 60, 60)


@pytest.mark.parametrize("period", [1, 5, 10, 20, 30])
def test_a_sub_minute_period_on_a_standard_resolution_metric_is_refused_with_the_fix(period: int) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_groups(declare(period_seconds=period))
    message = str(raised.value)
    assert f"metric.period_seconds {period} is below 60 s" in message
    assert "set metric.resolution_seconds to 1" in message and "multiple of 60" in message


@pytest.mark.parametrize("period", [1, 5, 10, 20, 30, 60, 120, 300])
def test_a_high_resolution_metric_takes_the_documented_sub_minute_periods(period: int) -> None:
    metric = parse_groups(declare(period_seconds=period, resolution_seconds=1)).group("web").metric
    assert metric.period_seconds == period


@pytest.mark.parametrize("period", [2, 15, 45, 59])
def test_other_sub_minute_periods_are_refused_even_at_high_resolution(period: int) -> None:
    with pytest.raises(ConfigurationError, match=r"metric.period_seconds .* one of 1, 5, 10, 20, 30"):
        parse_groups(declare(period_seconds=period, resolution_seconds=1))


@pytest.mark.parametrize("period", [61, 90, 100, 301])
def test_a_period_above_a_minute_must_be_a_multiple_of_60(period: int) -> None:
    with pytest.raises(ConfigurationError, match=rf"metric.period_seconds {period} is not a multiple of 60"):
        parse_groups(declare(period_seconds=period))


def test_a_resolution_other_than_1_or_60_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="resolution_seconds"):
        parse_groups(declare(resolution_seconds=10))


def test_the_window_ends_at_the_newest_period_that_ended_a_delay_ago() -> None:
    # 30 s into a minute with a 60 s delay: the minute that ended 30 s ago is not ingested yet,
    # so the newest readable period is the one before it
    assert evaluation_window(T0 + 30, 60, 5, 60) == (T0 - 360, T0 - 60)
    # without a delay, the period that just ended is the newest
    assert evaluation_window(T0 + 30, 60, 5, 0) == (T0 - 300, T0)
    # high resolution: 10 s periods, aligned to 10 s
    assert evaluation_window(T0 + 35, 10, 3, 60) == (T0 - 60, T0 - 30)


@given(now=st.floats(min_value=T0, max_value=T0 + 86400, allow_nan=False),
       period=st.sampled_from([1, 5, 10, 20, 30, 60, 120, 300, 3600]),
       datapoints=st.integers(min_value=1, max_value=60),
       delay=st.integers(min_value=0, max_value=900))
def test_the_window_holds_exactly_the_last_n_complete_readable_periods(now: float, period: int, datapoints: int,
                                                                       delay: int) -> None:
    start, end = evaluation_window(now, period, datapoints, delay)
    assert end - start == datapoints * period  # N periods
    assert start % period == 0 and start % min(period, 60) == 0  # aligned as GetMetricData aligns
    assert end <= now - delay  # every period in it ended at least the delay ago: complete and readable
    assert end + period > now - delay  # and the next one is not yet: no complete period left out
