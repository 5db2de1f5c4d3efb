"""Step: pick the worst instance of the group, decide there is nothing to do, or say there is no data.

One DescribeTargetHealth per target group; each instance's exact dimension sets, whatever the CloudWatch
agent appends, from ListMetrics (one call per instance up to 20 instances, else one per 500 series of the
metric, within a page cap and time budget: MetricListingTooLarge past them); one GetMetricData per 500
series. When none of the group's instances has a
datapoint, that is never "healthy": the step audits NO_METRIC_DATA with the dimension sets the metric does
exist with, and notifies once per group per UTC day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from steps.aws import autoscaling, cloudwatch, elbv2, notifications
from steps.aws.stepfunctions import execution_status
from steps.core.config import MetricSpec
from steps.core.entrypoint import StepContext, step
from steps.core.observability import logger
from steps.core.reasons import Reason
from steps.domain.selection import evaluate_named, evaluation_window, select_worst
from steps.remediate import blockers
from steps.store import claim, lifecycle, notices
from steps.store.lifecycle import RemediationRecord

# Targets in these states are already on their way out: never pick them.
LEAVING = frozenset({"draining", "unhealthy.draining"})  # ELBv2 TargetHealth State: both are leaving


def _not_in_service_in_asg(ctx: StepContext, instance_id: str | None) -> str | None:
    """Why ``instance_id`` must not be touched because of its Auto Scaling lifecycle state, or None."""
    if instance_id is None or not ctx.group.auto_scaling.enabled:
        return None
    member = autoscaling.membership(instance_id)
    if member is None or member.lifecycle_state == autoscaling.IN_SERVICE:
        return None
    return f"{instance_id} is {member.lifecycle_state} in Auto Scaling group {member.group}: passed over"


def _claimed_elsewhere(ctx: StepContext, instance_id: str | None) -> claim.ClaimOutcome | None:
    """Claim ``instance_id`` for this execution; the outcome when another live execution holds it, or None.

    Two groups can reach the same instance (it is registered in a target group of each): the group lease
    cannot keep their remediations apart, the claim does. Taken before anything is taken out of service."""
    if instance_id is None:
        return None
    outcome = claim.acquire(instance_id, ctx.execution_id, ctx.group.name, ctx.state.request.remediation_id,
                            ctx.now, ctx.group.lock_lease_seconds, execution_status)
    return None if outcome.claimed else outcome


def _passed_over(ctx: StepContext, instance_id: str) -> str | None:
    """Why the chosen instance must be passed over (audited), or None once it is claimed for this run."""
    reason = _not_in_service_in_asg(ctx, instance_id)
    if reason is not None:
        # Standby, Pending, Terminating...: an operator or the ASG owns it. Never touch it; next worst.
        ctx.audit(Reason.SKIPPED_ASG_STATE, reason, instance_id=instance_id)
        return reason
    reason = blockers.serves_another_group(ctx.group, instance_id)
    if reason is not None:
        ctx.audit(Reason.SKIPPED_SHARED, reason, instance_id=instance_id)
        # Passed over on every run until the groups are fixed: say so, once a day, not only in the audit.
        _notify_daily(ctx, "shared-instance", f"{ctx.group.name} cannot heal {instance_id}: another group "
                      "serves through it",
                      {"code": Reason.SKIPPED_SHARED, "instance_id": instance_id, "reason": reason})
        return reason
    claimed = _claimed_elsewhere(ctx, instance_id)
    if claimed is None:
        return None
    reason = (f"{instance_id} is claimed by another remediation ({claimed.holder}, group "
              f"{claimed.holder_group}): an instance is never in two remediations at once; passed over")
    ctx.audit(Reason.SKIPPED_CLAIMED, reason, instance_id=instance_id, holder=claimed.holder,
              holder_group=claimed.holder_group)
    return reason


def _nothing_reason(reason: str, named: str | None, any_left: bool, passed: dict[str, str]) -> str:
    """Why nothing was selected, with the instances passed over (claimed elsewhere, not InService)."""
    if named and named in passed:
        return passed[named]
    if named and not any_left:
        return f"{named} is not in service in the group"
    return reason + (f" (passed over: {'; '.join(passed.values())})" if passed else "")


@step
def select_worst_instance(ctx: StepContext) -> dict[str, Any]:
    record = lifecycle.load(ctx.state.request.remediation_id)
    earlier = lifecycle.recorded(record, "select")
    if earlier is not None:
        return earlier
    metric = ctx.group.metric
    states = elbv2.group_target_states(ctx.group.target_group_arns)
    # Draining from any one target group means someone (an operator, an ASG, another tool) is taking it
    # out already: never touch it.
    leaving = {i for members in states.values() for i, s in members.items() if s in LEAVING}
    instances = sorted({i for members in states.values() for i in members} - leaving)
    named = ctx.state.request.instance_id
    if ctx.state.request.replay_of and not named:
        # A replay never picks a second instance: it re-evaluates the one this remediation chose.
        named = (record.facts or {}).get("select", {}).get("instance_id")
    if named:
        instances = [named] if named in instances else []
    # Only the last N periods whose datapoints are complete and readable despite the ingestion delay:
    # the newest period(s) are not readable yet, so reading up to now would count them as missing.
    start, end = evaluation_window(ctx.now, metric.period_seconds, metric.evaluation_datapoints,
                                   metric.ingestion_delay_seconds)
    queries = [
        cloudwatch.MetricQuery(i, metric.namespace, metric.name, metric.stat, metric.period_seconds,
                               tuple(sorted(metric.dimensions.items())))
        for i in instances
    ]
    series, read = cloudwatch.discover_and_read(queries, datetime.fromtimestamp(start, UTC),
                                                datetime.fromtimestamp(end, UTC))
    label = f"{metric.namespace}/{metric.name} ({metric.stat})"
    if instances and not any(series.values()):
        return _no_metric_data(ctx, record, metric, label, instances, read)
    passed: dict[str, str] = {}  # instance -> why it was passed over (ASG state, shared, claimed elsewhere)
    while True:
        if named and instances:
            selection = evaluate_named(named, series[named], metric.threshold, metric.breaching_datapoints,
                                       metric.evaluation_datapoints, label)
        else:
            selection = select_worst(series, metric.threshold, metric.breaching_datapoints,
                                     metric.evaluation_datapoints, label)
        if selection.instance_id is None:
            break
        passed_over = _passed_over(ctx, selection.instance_id)
        if passed_over is None:
            break
        passed[str(selection.instance_id)] = passed_over
        series = {i: s for i, s in series.items() if i != selection.instance_id}
        instances = [i for i in instances if i != selection.instance_id]
    numbers = {"metric": label, "threshold": metric.threshold, "value": selection.value,
               "breaching": selection.breaching, "needed": metric.breaching_datapoints,
               "of_last": metric.evaluation_datapoints, "instances_evaluated": selection.evaluated,
               "instances_with_data": selection.with_data, "candidates": selection.candidates,
               "passed_over": sorted(passed)}
    if selection.instance_id is None:
        reason = _nothing_reason(selection.reason, named, bool(instances), passed)
        ctx.audit(Reason.NOTHING_TO_DO, reason, instance_id=named, **numbers)
        result = {"action": "nothing_to_do", "value": selection.value, "threshold": metric.threshold,
                  "reason": reason}
        lifecycle.advance(record, "find_nothing", result, ctx.now, ctx.execution_id)
        return result
    ctx.audit(Reason.SELECTED, selection.reason, instance_id=selection.instance_id, **numbers)
    result = {"action": "remediate", "instance_id": selection.instance_id, "value": selection.value,
              "threshold": metric.threshold, "reason": selection.reason}
    lifecycle.advance(record, "select", result, ctx.now, ctx.execution_id, instance_id=selection.instance_id)
    return result


def _no_metric_data(ctx: StepContext, record: RemediationRecord, metric: MetricSpec, label: str,
                    instances: list[str], read: dict[str, list[cloudwatch.DimensionSet]]) -> dict[str, Any]:
    """None of the group's instances has a datapoint: audit what exists instead, notify once a day."""
    seen = [",".join(names) for names in cloudwatch.dimension_names_seen(metric.namespace, metric.name)]
    with_series = sum(1 for sets in read.values() if sets)
    wanted = dict(metric.dimensions)
    if with_series:
        reason = (f"{label}: {with_series} of {len(instances)} instances have a series but none reported a "
                  "datapoint in the evaluation window (is the CloudWatch agent running?)")
    else:
        reason = (f"{label}: none of the {len(instances)} instances has this metric "
                  + (f"with dimensions including {wanted} " if wanted else "")
                  + f"(dimension sets that exist for it: {'; '.join(seen) or 'none at all'})")
    ctx.audit(Reason.NO_METRIC_DATA, reason, metric=label, instances_evaluated=len(instances),
              instances_with_series=with_series, dimension_filter=wanted or None, dimension_sets_seen=seen)
    sent = _notify_daily(ctx, "no-metric-data",
                         f"{ctx.group.name} reports no {metric.name} data: nothing can be judged",
                         {"code": Reason.NO_METRIC_DATA, "metric": label, "instances_evaluated": len(instances),
                          "instances_with_series": with_series, "dimension_sets_seen": seen, "reason": reason})
    result = {"action": "no_metric_data", "value": None, "threshold": metric.threshold, "reason": reason,
              "notified": sent}
    lifecycle.advance(record, "find_no_data", result, ctx.now, ctx.execution_id)
    return result


def _notify_daily(ctx: StepContext, kind: str, text: str, facts: dict[str, Any]) -> list[str]:
    """Announce ``text`` once per group per UTC day for ``kind`` (a claim in the lock table); where it went.
    A notice that cannot be sent never fails the selection: its claim is given back for a later run."""
    try:
        if not notices.claim_daily(kind, ctx.group.name, ctx.now, ctx.execution_id):
            return []
    except Exception as exc:  # the claim could not be written: no notice this run, the selection goes on
        logger.warning(f"{kind} notice not claimed", extra={"error": repr(exc)})
        return []
    detail = {"group": ctx.group.name, "status": facts["code"].lower(), "execution_id": ctx.execution_id,
              "remediation_id": ctx.state.request.remediation_id, **facts}
    try:
        return notifications.announce(text, detail)
    except Exception as exc:
        logger.warning(f"{kind} notice not sent", extra={"error": repr(exc)})
        try:
            notices.release_daily(kind, ctx.group.name, ctx.now, ctx.execution_id)
        except Exception as again:  # the claim then simply stands for the day
            logger.warning(f"{kind} claim not released", extra={"error": repr(again)})
        return []


handler = select_worst_instance
