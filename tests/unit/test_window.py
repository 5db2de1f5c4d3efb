"""Maintenance windows: minutes open, written out by hand, and windows that can never open refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from steps.core.config import ConfigurationError, parse_groups
from steps.domain.window import open_minutes_per_week, parse_window

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


@pytest.mark.parametrize(("windows", "minutes"), [
    (["daily 00:00-24:00"], 7 * 24 * 60),
    (["Mon-Fri 01:00-05:00"], 5 * 4 * 60),
    (["Sat,Sun 22:00-02:00"], 2 * 4 * 60),
    (["daily 22:00-02:00", "daily 23:00-01:00"], 7 * 4 * 60),  # overlaps count once
    (["Fri-Mon 00:00-00:30"], 4 * 30),
    (["Sun 23:59-00:01"], 2),  # wraps into Monday
])
def test_minutes_open_per_week(windows: list[str], minutes: int) -> None:
    assert open_minutes_per_week(windows) == minutes


@pytest.mark.parametrize("text", ["daily 24:00-00:00", "Mon 05:00-05:00"])
def test_a_window_open_zero_minutes_is_refused_in_the_declaration(text: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        parse_groups({"groups": [{"name": "web", "target_group_arns": [ARN],
                                  "guards": {"maintenance_windows": [text]}}]})
    assert "guards.maintenance_windows" in str(error.value) and text in str(error.value)


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    window = parse_window("Fri 23:00-01:00")
    assert window.contains(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))  # Friday night
    assert window.contains(datetime(2026, 11, 28, 0, 30, tzinfo=UTC))  # Saturday early
    assert not window.contains(datetime(2026, 11, 28, 23, 30, tzinfo=UTC))  # Saturday night
