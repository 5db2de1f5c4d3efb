"""The blockers' side that reads AWS and writes: the facts they read (``Context``, each read through the ports
at most once per check), the storm breaker's pause, and the checks shared by every step about to take an
instance out of service: the floor right now, the pause flag again, and the shared-instance rule
(``serves_another_group``). The decisions themselves are pure, one file each, in steps/domain/blockers/."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from pynamodb.exceptions import PynamoDBException

from steps.aws import alarms, autoscaling, ec2, elbv2
from steps.aws.autoscaling import Membership
from steps.aws.errors import code_behind
from steps.core import clock, groups
from steps.core.config import GroupConfig
from steps.core.exceptions import AwsCallFailed
from steps.core.reasons import Reason
from steps.domain.blockers import Block, blocking, group_history_seconds, instance_history_seconds
from steps.domain.capacity import (
    ALB_PROTOCOLS,
    CapacityDecision,
    RoutingFailover,
    cross_zone_setting,
    healthy_after_removal,
    refusing_fail_open,
    routing_failover,
)
from steps.domain.in_flight import reserved_instances, without_reserved
from steps.store import audit, ledger, pause, read_cache
from steps.store.audit import AuditRecord

REMEDIATION_EVENTS = {Reason.REBOOT_REQUESTED}
# A remediation that ended without healing counts towards the storm breaker's failure limit, once however
# many of its executions (the original and its replays) failed.
FAILURE_EVENTS = {Reason.FAILED, Reason.LEFT_OUT_OF_SERVICE}
DAY_SECONDS = 86400


class Context:
    """The facts the blockers read (steps.domain.blockers.Facts), each read the first time a blocker asks and
    kept: the group's audit history serves the storm breaker and the group gap with one query, the instance's
    serves the cooldown and the reboots-per-day count, its Auto Scaling membership both Auto Scaling blockers.
    The histories reach as far back as the widest window of the registered blockers."""

    def __init__(self, group: GroupConfig, instance_id: str, registered: int | None = None) -> None:
        self.group = group
        self.instance_id = instance_id
        self.registered = registered
        self._at = clock.now()
        self.now: datetime = clock.now_dt()

    @cached_property
    def _group_records(self) -> list[AuditRecord]:
        since = self._at - group_history_seconds(self.group.blockers)
        return list(audit.for_group(self.group.name, since=since))

    @cached_property
    def instance_reboots_at(self) -> list[float]:
        # One query serves both the cooldown blocker and the reboots-per-day count.
        window = max(instance_history_seconds(self.group.blockers), DAY_SECONDS)
        records = [r for r in audit.for_instance(self.instance_id, since=self._at - window)
                   if self._at - float(r.at) < window]  # the query is to the second; this is exact
        return audit.times_of(iter(records), REMEDIATION_EVENTS)

    @cached_property
    def group_remediations_at(self) -> list[float]:
        return audit.times_of(iter(self._group_records), REMEDIATION_EVENTS)

    @cached_property
    def group_failures_at(self) -> list[float]:
        return audit.times_per_remediation(iter(self._group_records), FAILURE_EVENTS)

    @cached_property
    def paused_reason(self) -> str | None:
        flag = pause.paused(self.group.name)
        return flag.reason if flag else None

    @cached_property
    def instance_tags(self) -> dict[str, str]:
        return ec2.instance_tags(self.instance_id)

    @cached_property
    def alarms_in_alarm(self) -> list[str]:
        return alarms.in_alarm(self.group.blockers.blocking_alarms)

    @cached_property
    def _member(self) -> Membership | None:
        return autoscaling.membership(self.instance_id) if self.group.auto_scaling.enabled else None

    @property
    def asg_group(self) -> str | None:
        return self._member.group if self._member else None

    @property
    def asg_lifecycle(self) -> str | None:
        return self._member.lifecycle_state if self._member else None

    @cached_property
    def asg_activity(self) -> list[str]:
        member = self._member
        if member is None or not self.group.auto_scaling.block_on_activity:
            return []
        return autoscaling.activity_in_progress(member.group)


def reboots_in(facts: Context, seconds: float) -> int:
    """How many reboots of the instance Nightshift requested in the last ``seconds`` (at most a day)."""
    now = facts.now.timestamp()
    return len([t for t in facts.instance_reboots_at if now - t < seconds])


def blocks(group: GroupConfig, facts: Context) -> list[Block]:
    """Every blocker that applies; the storm breaker, when it trips, pauses the group."""
    found = blocking(group.blockers, facts)
    tripped = next((b for b in found if b.trips_storm_breaker), None)
    if tripped:
        pause.pause(group.name, tripped.reason, clock.now(), "storm breaker")
    return found


@dataclass(frozen=True)
class CapacityNow:
    decision: CapacityDecision
    states: dict[str, dict[str, str]]


@dataclass(frozen=True)
class Snapshot:
    """One fresh read of what the group's capacity depends on in AWS: target health in every target group, each
    target group's fail-open rule, and the instances' Availability Zones where a rule needs them."""

    states: dict[str, dict[str, str]]
    rules: dict[str, RoutingFailover]
    zones: dict[str, str] | None

    @property
    def registered(self) -> int:
        """Instances registered in any of the group's target groups (any state)."""
        return len({i for members in self.states.values() for i in members})

    def registered_in_zone(self, zone: str | None) -> int | None:
        if zone is None or self.zones is None:
            return None
        return len({i for members in self.states.values() for i in members if self.zones.get(i) == zone})


def routing_rules(target_group_arns: list[str]) -> dict[str, RoutingFailover]:
    """Each target group's fail-open rule (steps/domain/capacity.py): one DescribeTargetGroupAttributes per target
    group (the API takes one), then, only for those that use their load balancer's cross-zone setting, one
    DescribeTargetGroups for them all and one DescribeLoadBalancerAttributes per Network Load Balancer (an
    Application Load Balancer's cross-zone is always on). Read at every capacity check, never at selection."""
    attributes = {arn: elbv2.target_group_attributes(arn) for arn in target_group_arns}
    inherit = [arn for arn in target_group_arns if cross_zone_setting(attributes[arn]) is None]
    load_balancer: dict[str, bool | None] = {}
    if inherit:
        described = elbv2.target_group_protocols(inherit)
        answers: dict[str, bool] = {}
        for arn in inherit:
            protocol, balancers = described.get(arn, (None, []))
            if protocol in ALB_PROTOCOLS:
                load_balancer[arn] = True
                continue
            for lb in balancers:
                if lb not in answers:
                    answers[lb] = elbv2.load_balancer_cross_zone(lb)
            # Several load balancers: on only if on at every one (off anywhere: the stricter per-zone rule).
            load_balancer[arn] = bool(balancers) and all(answers[lb] for lb in balancers)
    rules = {}
    for arn in target_group_arns:
        try:
            rules[arn] = routing_failover(attributes[arn], load_balancer.get(arn))
        except ValueError as exc:
            raise AwsCallFailed(f"reading the fail-open rule of target group {arn}: {exc}") from exc
    return rules


# The fail-open rules are target group attributes an operator rarely changes: with several slots, the group's
# capacity checks and re-checks share one reading of them for this long (fifty remediations at once would
# otherwise read DescribeTargetGroupAttributes per target group three times each, ELB's tightest bucket).
RULES_MAX_AGE_SECONDS = 60


def shared_routing_rules(group: GroupConfig) -> dict[str, RoutingFailover]:
    """``routing_rules``, through a reading of them the group's remediations share (``cache#rules#<group>`` in the
    lock table, at most RULES_MAX_AGE_SECONDS old); any failure of the store reads AWS."""
    arns = list(group.target_group_arns)
    item_key = read_cache.key("rules", group.name)
    now = clock.now()
    try:
        entry = read_cache.load(item_key)
    except PynamoDBException:
        entry = None
    if entry is not None and now - entry.fetched_at < RULES_MAX_AGE_SECONDS and isinstance(entry.document, dict) \
            and set(entry.document) == set(arns):
        try:
            return {arn: RoutingFailover(bool(v[0]), int(v[1]), None if v[2] is None else int(v[2]))
                    for arn, v in entry.document.items()}
        except (TypeError, ValueError, IndexError):
            pass  # not a reading of ours: read AWS
    rules = routing_rules(arns)
    with contextlib.suppress(PynamoDBException):
        read_cache.publish(item_key, {arn: [r.per_zone, r.min_count, r.min_percent] for arn, r in rules.items()},
                           now, clock.now())
    return rules


def snapshot(group: GroupConfig, with_zones: bool = False) -> Snapshot:
    """Fresh target health in every target group, the fail-open rules, and the zones (per_az, a per-zone rule, a
    per-zone max_in_flight, or ``with_zones``)."""
    states = elbv2.group_target_states(group.target_group_arns)
    rules = shared_routing_rules(group) if group.in_flight.count != 1 else routing_rules(list(group.target_group_arns))
    zones = None
    if with_zones or group.per_az or group.in_flight_per_az is not None or any(r.per_zone for r in rules.values()):
        zones = ec2.availability_zones({i for members in states.values() for i in members})
    return Snapshot(states, rules, zones)


def decide(group: GroupConfig, snap: Snapshot, instance_id: str, reserved: set[str]) -> CapacityDecision:
    """May ``instance_id`` be out of service: the floor, and the load balancer's fail-open rule per target group
    (per zone where cross-zone is off), with every instance another remediation reserved counted as leaving
    service already (steps/domain/in_flight.py ``without_reserved``)."""
    states = without_reserved(snap.states, reserved - {instance_id})
    decision = healthy_after_removal(states, instance_id, group.floor, group.min_healthy_percent,
                                     snap.zones if group.per_az else None)
    return refusing_fail_open(decision, states, instance_id, snap.rules, snap.zones)


def reserved_by_others(group: GroupConfig, owner: str, now: float) -> set[str]:
    """The instances the group's other live remediations reserved (steps/store/ledger.py); none with one slot."""
    if not ledger.needed(group.name, group.name, group.in_flight.count, account=False):
        return set()  # one slot: this execution holds it, so no other reservation can exist
    view = ledger.read(group.name, owner, group.in_flight.of(None), now, account=False)
    return reserved_instances(view.others)


def capacity_now(group: GroupConfig, instance_id: str, owner: str, now: float) -> CapacityNow:
    """Fresh target health in every target group, and whether ``instance_id`` may be out of service now (the
    re-check right before a mutating call), counting what the group's other remediations reserved."""
    snap = snapshot(group)
    return CapacityNow(decide(group, snap, instance_id, reserved_by_others(group, owner, now)), snap.states)


def refuse_if_paused(group: GroupConfig, instance_id: str, before: str) -> str | None:
    """The pause flag again, right before a mutating call (the capacity check may be minutes old: a drain
    lasts up to the deregistration delay). The reason when paused, else None."""
    flag = pause.paused(group.name)
    if flag is None:
        return None
    return f"not {before} {instance_id}: the group was paused ({flag.reason}); `nightshift resume` lifts it"


def _registrations(target_group_arn: str, instance_id: str, other: str) -> list[str]:
    """The instance's states in a target group another group declares (one per port it is registered on;
    empty when it is not registered there, or the target group no longer exists: a deleted target group
    serves no one, and that group's own runs fail their validation, this one's need not). Any other error
    fails the step, naming what was being checked: never assumed unshared."""
    try:
        return elbv2.registrations_of(target_group_arn, instance_id)
    except AwsCallFailed as exc:
        if code_behind(exc) == "TargetGroupNotFound":
            return []
        raise AwsCallFailed(f"checking whether {instance_id} also serves in group {other!r} (its target group "
                            f"{target_group_arn}): {exc}") from exc.__cause__


def serves_another_group(group: GroupConfig, instance_id: str) -> str | None:
    """Why ``group`` must not take ``instance_id`` out of service (drain it, reboot, stop or replace it): it is
    registered, in any state, in a target group that another declared group guards; or None.

    A reboot (or a stop, a replacement) takes an instance out of service in every target group it is in: it
    fails their health checks and its connections are cut. ``group`` drains it only from its own target groups
    and checks only its own floor: the other group's target group would lose it undrained, unannounced and
    uncounted, while that group may be taking one of its own out (two out of one target group at once; found by
    the overlapping-groups property; docs/design.md "Instances shared by two groups"). Every state counts, not
    only ``healthy``: ``draining`` still serves its in-flight requests until the deregistration delay ends, and
    an NLB's ``unhealthy.draining`` keeps its established connections and turns ``healthy`` again if the target
    recovers (docs/aws-behaviour.md). Such an instance is passed over (or, found later, put back) with this
    reason. One DescribeTargetHealth per target group of the other groups, listing every target (not filtered
    to the instance: a filter names a port, and an instance may be registered on several; an instance id asked
    of an IP or Lambda target group, or of another VPC's, is an InvalidTarget error)."""
    for other in groups.load().groups:
        if other.name == group.name:
            continue
        for arn in other.target_group_arns:
            states = _registrations(arn, instance_id, other.name)
            if states:
                where = arn.split("/")[-2] if arn.count("/") >= 2 else arn
                return (f"{instance_id} is registered ({', '.join(states)}) in target group {where}, which group "
                        f"{other.name!r} guards: taking it out of service would cut its connections there "
                        f"undrained and leave the floor of group {other.name!r} unchecked. To heal it, move {arn} "
                        f"into group {group.name!r} (or merge the two groups)")
    return None
