"""Groups that overlap, and floors that would let the last healthy target go, refused at validation
(issue 14, items 2 and 4)."""

from __future__ import annotations

import pytest

from steps.core.config import ConfigurationError, parse_groups

HTTPS = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/0123456789abcdef"
HTTP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-http/0123456789abcdef"
OTHER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/batch/fedcba9876543210"


def test_two_groups_over_one_target_group_are_refused_naming_both_and_the_field() -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_groups({"groups": [{"name": "web", "target_group_arns": [HTTPS, HTTP]},
                                 {"name": "api", "target_group_arns": [OTHER, HTTP]}]})
    message = str(refused.value)
    assert "'web'" in message and "'api'" in message and HTTP in message and "target_group_arns" in message
    assert HTTPS not in message and OTHER not in message  # it names the shared one only


def test_groups_over_distinct_target_groups_are_accepted() -> None:
    document = parse_groups({"groups": [{"name": "web", "target_group_arns": [HTTPS, HTTP]},
                                        {"name": "api", "target_group_arns": [OTHER]}]})
    assert [g.name for g in document.groups] == ["web", "api"]


def test_a_floor_of_zero_healthy_is_refused_naming_both_fields_and_the_fix() -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_groups({"groups": [{"name": "web", "target_group_arns": [HTTPS], "min_healthy": 0,
                                  "min_healthy_percent": 0}]})
    message = str(refused.value)
    assert "min_healthy 0" in message and "min_healthy_percent 0" in message
    assert "allow_zero_healthy: true" in message and "at least 1" in message


@pytest.mark.parametrize(("min_healthy", "percent", "allow", "floor"), [
    (0, 0, True, 0),  # said explicitly: zero is acceptable
    (0, 50, False, 1),  # the percentage keeps one; the floor says so too
    (0, 1e-10, False, 1),  # a percentage too small to round up to one target: still one
    (3, 0, False, 3),
    (2, 50, True, 2),
])
def test_the_floor_is_one_healthy_target_unless_zero_is_allowed(min_healthy: int, percent: float, allow: bool,
                                                                 floor: int) -> None:
    document = parse_groups({"groups": [{"name": "web", "target_group_arns": [HTTPS], "min_healthy": min_healthy,
                                         "min_healthy_percent": percent, "allow_zero_healthy": allow}]})
    assert document.group("web").floor == floor
