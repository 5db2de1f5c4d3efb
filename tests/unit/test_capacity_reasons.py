"""Every Check and every reason sentence of the capacity guard, written by hand.

The reason is what SKIPPED_CAPACITY / CAPACITY_OK say in the audit trail; the checks are its numbers.
"""

from __future__ import annotations

from steps.domain.capacity import Check, healthy_after_removal

TG1 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/1111111111111111"
TG2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-http/2222222222222222"
STATE = {"H": "healthy", "U": "unhealthy", "I": "initial", "D": "draining"}


def members(pattern: str) -> dict[str, str]:
    return {f"i-{k}": STATE[c] for k, c in enumerate(pattern)}


def test_allowed_lists_every_check() -> None:
    decision = healthy_after_removal({TG1: members("HHHH"), TG2: members("HHHH")}, "i-0", 3, 0)
    assert decision.allowed is True
    assert decision.checks == (Check(TG1, None, 4, 4, 3, 3), Check(TG2, None, 4, 4, 3, 3))
    assert decision.reason == ("capacity allows removal: web-https: 3 healthy after removal of 4 registered, "
                               "needs 3; web-http: 3 healthy after removal of 4 registered, needs 3")


def test_refused_names_only_the_failing_target_groups() -> None:
    decision = healthy_after_removal({TG1: members("HHHH"), TG2: members("HUIH")}, "i-0", 2, 0)
    assert decision.allowed is False
    assert decision.checks == (Check(TG1, None, 4, 4, 3, 2), Check(TG2, None, 4, 2, 1, 2))
    assert decision.reason == "not enough capacity: web-http: 1 healthy after removal of 4 registered, needs 2"


def test_refused_by_every_target_group() -> None:
    decision = healthy_after_removal({TG1: members("HHD"), TG2: members("HH")}, "i-1", 2, 0)
    assert decision.reason == ("not enough capacity: web-https: 1 healthy after removal of 3 registered, "
                               "needs 2; web-http: 1 healthy after removal of 2 registered, needs 2")


def test_a_target_group_named_without_an_arn_is_named_as_is() -> None:
    decision = healthy_after_removal({"plain": members("HH")}, "i-0", 2, 0)
    assert decision.reason == "not enough capacity: plain: 1 healthy after removal of 2 registered, needs 2"


def test_the_numbers_are_every_check_with_its_verdict() -> None:
    decision = healthy_after_removal({TG1: members("HHU")}, "i-2", 2, 50)
    assert decision.numbers() == [{"target_group": TG1, "zone": None, "registered": 3, "healthy_now": 2,
                                   "healthy_after": 2, "required": 2, "ok": True}]
    refused = healthy_after_removal({TG1: members("HHU")}, "i-0", 2, 50)
    assert refused.numbers() == [{"target_group": TG1, "zone": None, "registered": 3, "healthy_now": 2,
                                  "healthy_after": 1, "required": 2, "ok": False}]


def test_per_az_adds_the_candidates_zone_in_every_target_group_that_holds_it() -> None:
    # i-0, i-1 in a; i-2..i-5 in b. TG2 does not hold the candidate: no zone check there.
    zones = {"i-0": "a", "i-1": "a", "i-2": "b", "i-3": "b", "i-4": "b", "i-5": "b"}
    states = {TG1: members("HHHHHH"), TG2: {"i-2": "healthy", "i-3": "healthy"}}
    decision = healthy_after_removal(states, "i-0", 1, 50, zones=zones)
    assert decision.allowed is True
    assert decision.checks == (Check(TG1, None, 6, 6, 5, 3), Check(TG1, "a", 2, 2, 1, 1),
                               Check(TG2, None, 2, 2, 2, 1))
    assert decision.reason == (
        "capacity allows removal: web-https: 5 healthy after removal of 6 registered, needs 3; "
        "web-https in a: 1 healthy after removal of 2 registered, needs 1; "
        "web-http: 2 healthy after removal of 2 registered, needs 1")


def test_per_az_floor_is_one_healthy_not_the_groups_minimum() -> None:
    # min_healthy 3 binds the whole target group; the zone needs max(1, ceil(0 % of 2)) = 1
    zones = {"i-0": "a", "i-1": "a", "i-2": "b", "i-3": "b", "i-4": "b"}
    decision = healthy_after_removal({TG1: members("HHHHH")}, "i-0", 3, 0, zones=zones)
    assert decision.checks == (Check(TG1, None, 5, 5, 4, 3), Check(TG1, "a", 2, 2, 1, 1))
    assert decision.allowed is True


def test_per_az_refuses_the_last_healthy_in_its_zone() -> None:
    zones = {"i-0": "a", "i-1": "a", "i-2": "b"}
    decision = healthy_after_removal({TG1: members("HUH")}, "i-0", 1, 0, zones=zones)
    assert decision.checks == (Check(TG1, None, 3, 2, 1, 1), Check(TG1, "a", 2, 1, 0, 1))
    assert decision.reason == "not enough capacity: web-https in a: 0 healthy after removal of 2 registered, needs 1"


def test_instances_without_a_known_zone_share_the_zone_unknown() -> None:
    # the candidate i-0 and i-2 have no zone: both are "unknown"; i-1 is in a
    decision = healthy_after_removal({TG1: members("HHH")}, "i-0", 1, 100, zones={"i-1": "a"})
    assert decision.checks == (Check(TG1, None, 3, 3, 2, 3), Check(TG1, "unknown", 2, 2, 1, 2))
    assert decision.reason == ("not enough capacity: web-https: 2 healthy after removal of 3 registered, needs 3; "
                               "web-https in unknown: 1 healthy after removal of 2 registered, needs 2")
