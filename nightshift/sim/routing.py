"""Which targets of a target group the load balancer sends requests to: the healthy ones, or, where it fails
open ("routing failover"), every target available to the load balancer node, unhealthy ones included.

AWS's documentation (docs/aws-behaviour.md, "Fail open"):
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html
- "Routing failover - When the healthy targets in a zone fall below the threshold, the load balancer sends
  traffic to all targets available to the load balancer node, including unhealthy targets."
- The threshold is `target_group_health.unhealthy_state_routing.minimum_healthy_targets.count` (default 1) and
  `.percentage` (default off); "the load balancer takes the action when either threshold is breached".
- "If cross-zone load balancing is off, ... the thresholds apply to the number of targets in each enabled zone
  separately. If cross-zone load balancing is on, ... to the total number targets in all enabled zones."
- An Application Load Balancer's cross-zone is always on at the load balancer; a target group's
  `load_balancing.cross_zone.enabled` (true, false or use_load_balancer_configuration, the default) overrides it:
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/disable-cross-zone.html
- Defaults and values of the attributes:
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetGroupAttribute.html

Pure: the fleet passes the target states, zones and attributes of one instant.
"""

from __future__ import annotations

from collections.abc import Mapping

from nightshift.sim.target_health import HEALTHY, UNHEALTHY

CROSS_ZONE = "load_balancing.cross_zone.enabled"
ROUTING_COUNT = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count"
ROUTING_PERCENT = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage"
DNS_COUNT = "target_group_health.dns_failover.minimum_healthy_targets.count"
DNS_PERCENT = "target_group_health.dns_failover.minimum_healthy_targets.percentage"
# What DescribeTargetGroupAttributes reports when nobody set them (the API reference's defaults).
TARGET_GROUP_HEALTH_DEFAULTS = {DNS_COUNT: "1", DNS_PERCENT: "off", ROUTING_COUNT: "1", ROUTING_PERCENT: "off"}


def cross_zone_on(attributes: Mapping[str, str], load_balancer_cross_zone: bool) -> bool:
    value = attributes.get(CROSS_ZONE, "use_load_balancer_configuration")
    return load_balancer_cross_zone if value == "use_load_balancer_configuration" else value == "true"


def _breached(healthy: int, registered: int, attributes: Mapping[str, str]) -> bool:
    count = int(attributes.get(ROUTING_COUNT, "1"))
    percent = attributes.get(ROUTING_PERCENT, "off")
    return healthy < count or (percent != "off" and healthy * 100 < int(percent) * registered)


def routed_targets(states: Mapping[str, str], zones: Mapping[str, str], attributes: Mapping[str, str],
                   load_balancer_cross_zone: bool) -> set[str]:
    """The targets (of one target group, ``states``: target -> state) that receive requests."""
    scopes: dict[str, dict[str, str]] = {}
    per_zone = not cross_zone_on(attributes, load_balancer_cross_zone)
    for target, state in states.items():
        scopes.setdefault(zones.get(target, "") if per_zone else "", {})[target] = state
    routed: set[str] = set()
    for scope in scopes.values():
        healthy = {t for t, s in scope.items() if s == HEALTHY}
        routed |= healthy
        if _breached(len(healthy), len(scope), attributes):
            routed |= {t for t, s in scope.items() if s == UNHEALTHY}
    return routed


def validated(changes: Mapping[str, str]) -> None:
    """ModifyTargetGroupAttributes' documented values for these attributes; a ValueError names the one wrong."""
    if CROSS_ZONE in changes and changes[CROSS_ZONE] not in ("true", "false", "use_load_balancer_configuration"):
        raise ValueError(f"'{CROSS_ZONE}' must be one of [true, false, use_load_balancer_configuration]")
    for key in (ROUTING_COUNT, DNS_COUNT):
        value = changes.get(key)
        if value is not None and not (value.isdigit() and int(value) >= 1) and not (key == DNS_COUNT
                                                                                    and value == "off"):
            raise ValueError(f"'{key}' value '{value}' must be " + ("off or " if key == DNS_COUNT else "")
                             + "an integer of at least 1")
    for key in (ROUTING_PERCENT, DNS_PERCENT):
        value = changes.get(key)
        if value is not None and value != "off" and not (value.isdigit() and 1 <= int(value) <= 100):
            raise ValueError(f"'{key}' value '{value}' must be off or an integer from 1 to 100")
