"""The fail-open rule as AWS documents it (steps/domain/capacity.py; docs/aws-behaviour.md, "Fail open"): per
target group, per Availability Zone when cross-zone load balancing is off, and at the unhealthy_state_routing
minimum count or percentage. Expected values are worked out from the documentation's rule by hand."""

from __future__ import annotations

import pytest

from steps.core.reasons import Reason
from steps.domain.capacity import (
    RoutingFailover,
    failing_open,
    healthy_after_removal,
    refusing_fail_open,
    routing_failover,
)

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
ZONES = {"a1": "us-east-1a", "a2": "us-east-1a", "a3": "us-east-1a",
         "b1": "us-east-1b", "b2": "us-east-1b", "b3": "us-east-1b"}
# us-east-1a all healthy; us-east-1b: b1 healthy, b2 and b3 unhealthy
ONE_ZONE_FAILING = {TG: {"a1": "healthy", "a2": "healthy", "a3": "healthy",
                         "b1": "healthy", "b2": "unhealthy", "b3": "unhealthy"}}


def decide(states: dict[str, dict[str, str]], candidate: str, rule: RoutingFailover) -> object:
    floor = healthy_after_removal(states, candidate, 1, 0)
    assert floor.allowed  # the floor alone would let it out: only the fail-open rule refuses below
    return refusing_fail_open(floor, states, candidate, {TG: rule}, ZONES)


def test_cross_zone_off_the_last_healthy_target_of_a_zone_is_refused() -> None:
    decision = decide(ONE_ZONE_FAILING, "b1", RoutingFailover(per_zone=True))
    assert not decision.allowed and decision.skip_code == Reason.SKIPPED_FAIL_OPEN  # type: ignore[attr-defined]
    assert "web in us-east-1b would have 0 healthy of 3 registered" in decision.reason  # type: ignore[attr-defined]


def test_cross_zone_off_a_target_of_the_healthy_zone_may_go() -> None:
    assert decide(ONE_ZONE_FAILING, "a1", RoutingFailover(per_zone=True)).allowed  # type: ignore[attr-defined]


def test_cross_zone_on_the_zones_do_not_count_on_their_own() -> None:
    # 4 healthy of 6 in the target group; without b1, 3 healthy: above the default minimum of 1
    assert decide(ONE_ZONE_FAILING, "b1", RoutingFailover(per_zone=False)).allowed  # type: ignore[attr-defined]


def test_cross_zone_off_a_zone_already_failing_open_refuses_any_candidate() -> None:
    states = {TG: {"a1": "healthy", "a2": "healthy", "b1": "unhealthy", "b2": "unhealthy"}}
    found = failing_open(states, "a1", {TG: RoutingFailover(per_zone=True)}, ZONES)
    assert [(f.zone, f.healthy, f.registered, f.after_removal) for f in found] == [("us-east-1b", 0, 2, False)]
    assert failing_open(states, "a1", {TG: RoutingFailover(per_zone=False)}, ZONES) == ()


@pytest.mark.parametrize(("count", "allowed"), [(3, True), (4, False)])
def test_minimum_healthy_count_without_the_candidate(count: int, allowed: bool) -> None:
    # 4 healthy of 6 (b2, b3 unhealthy); without a1: 3 healthy. Minimum 3: not below; minimum 4: below.
    decision = decide(ONE_ZONE_FAILING, "a1", RoutingFailover(min_count=count))
    assert decision.allowed is allowed  # type: ignore[attr-defined]


@pytest.mark.parametrize(("percent", "allowed"), [(50, True), (51, False)])
def test_minimum_healthy_percentage_without_the_candidate(percent: int, allowed: bool) -> None:
    # Without a1: 3 healthy of the 6 registered = 50%. 50% is not below 50%; 51% is.
    decision = decide(ONE_ZONE_FAILING, "a1", RoutingFailover(min_percent=percent))
    assert decision.allowed is allowed  # type: ignore[attr-defined]


def test_either_threshold_breached_is_enough() -> None:
    # count 1 holds (3 healthy after), 60% does not (3/6)
    assert not decide(ONE_ZONE_FAILING, "a1", RoutingFailover(min_count=1, min_percent=60)).allowed  # type: ignore[attr-defined]


def test_the_percentage_applies_per_zone_when_cross_zone_is_off() -> None:
    # us-east-1a: a1 a2 healthy, a3 unhealthy (66%); us-east-1b: all 3 healthy. Minimum 60%.
    states = {TG: {"a1": "healthy", "a2": "healthy", "a3": "unhealthy",
                   "b1": "healthy", "b2": "healthy", "b3": "healthy"}}
    per_zone = {TG: RoutingFailover(per_zone=True, min_percent=60)}
    # without a1, us-east-1a has 1 of 3 (33%) and an unhealthy target: its node would route to a3
    assert [(f.zone, f.healthy, f.registered) for f in failing_open(states, "a1", per_zone, ZONES)] == [
        ("us-east-1a", 1, 3)]
    # without b1, us-east-1b keeps 2 of 3 (66%) and has no unhealthy target
    assert failing_open(states, "b1", per_zone, ZONES) == ()
    # cross-zone on: without a1, 4 of 6 (66%) in the whole target group
    assert failing_open(states, "a1", {TG: RoutingFailover(min_percent=60)}, ZONES) == ()


def test_no_unhealthy_target_means_nothing_to_route_to() -> None:
    # Below the minimum, but only initial targets besides: the routing failover sends no unhealthy target traffic.
    states = {TG: {"a1": "healthy", "a2": "initial", "a3": "initial"}}
    assert failing_open(states, "a1", {TG: RoutingFailover(min_count=3)}, ZONES) == ()


def test_an_unhealthy_candidate_in_a_failing_open_group_is_refused_too() -> None:
    states = {TG: {"a1": "unhealthy", "a2": "unhealthy"}}
    assert failing_open(states, "a1", {TG: RoutingFailover()}, ZONES)[0].after_removal is False


@pytest.mark.parametrize(("attributes", "lb_cross_zone", "expected"), [
    ({}, True, RoutingFailover(per_zone=False, min_count=1, min_percent=None)),  # an ALB's defaults
    ({}, False, RoutingFailover(per_zone=True)),  # an NLB's default: off
    ({"load_balancing.cross_zone.enabled": "use_load_balancer_configuration"}, None, RoutingFailover(per_zone=True)),
    ({"load_balancing.cross_zone.enabled": "false"}, True, RoutingFailover(per_zone=True)),
    ({"load_balancing.cross_zone.enabled": "true"}, False, RoutingFailover(per_zone=False)),
    ({"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "3",
      "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off"}, True,
     RoutingFailover(min_count=3)),
    ({"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "25"}, True,
     RoutingFailover(min_percent=25)),
])
def test_the_rule_read_from_the_target_group_attributes(attributes: dict[str, str], lb_cross_zone: bool | None,
                                                        expected: RoutingFailover) -> None:
    assert routing_failover(attributes, lb_cross_zone) == expected


def test_an_undocumented_threshold_value_is_an_error_naming_the_attribute() -> None:
    with pytest.raises(ValueError, match=r"unhealthy_state_routing\.minimum_healthy_targets\.percentage"):
        routing_failover({"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "0"},
                         True)


def test_a_count_below_one_is_an_error_naming_the_attribute() -> None:
    # AWS documents 1 to the number of targets; "0" would make the rule never breached (nothing ever fails open).
    with pytest.raises(ValueError, match=r"unhealthy_state_routing\.minimum_healthy_targets\.count"):
        routing_failover({"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "0"}, True)


def test_a_target_whose_zone_is_unknown_is_never_pooled_with_another() -> None:
    # u1 (unhealthy) and u2 (healthy) are not in the zones map (EC2 did not describe them): each is a zone of its
    # own, so u1's is failing open now and nothing is taken out. Pooled, u2 would hide it and a1 could go.
    states = {TG: {"a1": "healthy", "a2": "healthy", "u1": "unhealthy", "u2": "healthy"}}
    found = failing_open(states, "a1", {TG: RoutingFailover(per_zone=True)}, ZONES)
    assert [(f.zone, f.after_removal) for f in found] == [("unknown zone of u1", False)]


def test_unhealthy_draining_peers_become_unhealthy_so_the_last_healthy_target_of_their_zone_is_refused() -> None:
    # An NLB target with connection termination off that fails its health checks is `unhealthy.draining` for the
    # draining interval; "If targets recovers, the NLB will flip the target status back to healthy; otherwise, it
    # will flip the target status to unhealthy" (NLB launch note for unhealthy.draining; docs/aws-behaviour.md).
    # Without b1 its zone is left with only failing targets that become `unhealthy` while b1 is out: the zone
    # then fails open (routing failover), exactly what the guard refuses for `unhealthy` peers.
    states = {TG: {"a1": "healthy", "a2": "healthy", "a3": "healthy",
                   "b1": "healthy", "b2": "unhealthy.draining", "b3": "unhealthy.draining"}}
    decision = decide(states, "b1", RoutingFailover(per_zone=True))
    assert not decision.allowed  # type: ignore[attr-defined]
    assert "web in us-east-1b would have 0 healthy of 3 registered" in decision.reason  # type: ignore[attr-defined]
    assert decide(states, "a1", RoutingFailover(per_zone=True)).allowed  # type: ignore[attr-defined]


def test_a_target_group_that_inherits_cross_zone_is_per_zone_unless_every_load_balancer_has_it_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # steps/remediate/blockers.py routing_rules: an NLB's cross-zone is off by default (absent reads as off), and a
    # target group behind several load balancers is judged by the strictest (off anywhere: per zone).
    from steps.remediate import blockers
    lb_on, lb_off, lb_silent = (f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/{n}/0"
                                for n in ("on", "off", "silent"))
    tgs = {f"{TG}-{n}": balancers for n, balancers in
           {"both": [lb_on, lb_off], "on": [lb_on], "silent": [lb_silent], "none": []}.items()}
    monkeypatch.setattr(blockers.elbv2, "target_group_attributes", lambda _arn: {})
    monkeypatch.setattr(blockers.elbv2, "target_group_protocols",
                        lambda arns: {arn: ("TCP", tgs[arn]) for arn in arns})
    answers = {lb_on: [{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
               lb_off: [{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}], lb_silent: []}

    class _Client:
        def describe_load_balancer_attributes(self, LoadBalancerArn: str) -> dict[str, object]:
            return {"Attributes": answers[LoadBalancerArn]}

    monkeypatch.setattr(blockers.elbv2, "client", lambda _service: _Client())
    rules = blockers.routing_rules(list(tgs))
    assert {arn.rsplit("-", 1)[1]: rule.per_zone for arn, rule in rules.items()} == {
        "both": True, "on": False, "silent": True, "none": True}
