"""Step: pick the worst instance of the group, decide there is nothing to do, or say there is no data.

The group's ``select`` criteria decide what "worst" means (steps/domain/criteria.py): an instance already
failing (a status check impaired, a target failing its health checks, a silent agent) long enough comes first,
then, with the ``metric`` criterion (the default), the worst breach of the metric (steps/domain/selection.py).

One DescribeTargetHealth per target group (and, for ``unhealthy_target`` when a target fails, one
DescribeTargetGroups per 20 of them for their health check settings); each instance's exact dimension sets,
whatever the CloudWatch agent appends, from ListMetrics (one call per instance up to 20 instances, else one per
500 series of the metric, within a page cap and time budget: MetricListingTooLarge past them); one GetMetricData
per 500 series; with ``silent``, one DescribeInstances per 1000 quiet instances (their LaunchTime). When none
of the group's instances has a datapoint, that is never "healthy": the step audits NO_METRIC_DATA with the
dimension sets the metric does
exist with, and notifies once per group per UTC day.

Watching (``unhealthy_target`` only: DescribeTargetHealth never says since when, status_check has ImpairedSince
and silent has datapoint timestamps and LaunchTime): when nothing is due but a target failing its health checks
is watched, the step answers ``action: "watch"`` with ``watch_seconds`` (steps/domain/criteria.py ``watch``:
under half the smallest recover-and-fail gap, never past the watch deadline) instead of NOTHING_TO_DO, renews the
group lease past that Wait (LockLost when another execution owns the group) and the state machine selects again
after the Wait. The first watch of an execution audits WATCHING and fixes the deadline (kept in the lifecycle
record's facts for this execution, so a Retry or a redrive reuses it); the last look audits the usual SELECTED or
NOTHING_TO_DO. The lifecycle stays ``requested`` while watching. An execution takes at most
``history.watch_looks`` further looks (the Step Functions history budget the rest of a remediation leaves).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from steps.aws import alarms, autoscaling, cloudwatch, ec2, elbv2, notifications
from steps.aws.stepfunctions import execution_status
from steps.core.config import MetricSpec
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import LockLost
from steps.core.observability import logger
from steps.core.reasons import Reason
from steps.domain import criteria, evidence, history
from steps.domain.selection import evaluate_named, evaluation_window, select_worst
from steps.remediate import blockers, lease, polls
from steps.store import audit, claim, first_seen, ledger, lifecycle, lock, notices
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


def _failing(ctx: StepContext, health: dict[str, dict[str, tuple[str, str | None]]], candidates: list[str],
             series: dict[str, cloudwatch.Series], read_start: float, end: float) -> list[criteria.Failing]:
    """Every candidate failing one of the group's failing criteria (status_check, unhealthy_target, silent),
    due or not yet. Reads only what the selected criteria need: nothing for a group that selects by metric."""
    group = ctx.group
    found: list[criteria.Failing] = []
    status_spec, unhealthy_spec, silent_spec = (group.selects("status_check"), group.selects("unhealthy_target"),
                                                group.selects("silent"))
    if not candidates or not (status_spec or unhealthy_spec or silent_spec):
        return found
    checks: dict[str, criteria.StatusChecks] = {}
    if status_spec or silent_spec:
        checks = {i: criteria.StatusChecks(*seen) for i, seen in ec2.status_checks(candidates).items()}
    if status_spec:
        found += criteria.impaired(checks, ctx.now, status_spec.for_seconds)
    if unhealthy_spec:
        targets = {tg: {i: criteria.TargetHealth(*h) for i, h in members.items()} for tg, members in health.items()}
        failing = criteria.failing_health_checks(targets)
        remembered = {i: criteria.Sighting(first, last) for i, (first, last) in first_seen.load(group.name).items()}
        # How long a first sighting may go unobserved and still carry: from the target groups' health check
        # settings (one batched DescribeTargetGroups, only when something fails).
        gaps: dict[str, float] = {}
        if failing:
            cycles = {tg: criteria.recover_and_fail_seconds(s.interval_seconds, s.unhealthy_threshold)
                      for tg, s in elbv2.health_check_settings(group.target_group_arns).items()}
            gaps = criteria.max_gaps(targets, cycles)
        seen = criteria.first_seen(failing, remembered, ctx.now, gaps)
        if seen or remembered:  # each sighting moves its `last`; an instance no longer failing is forgotten
            first_seen.save(group.name, {i: (s.first, s.last) for i, s in seen.items()}, ctx.now)
        mine = {tg: {i: h for i, h in members.items() if i in candidates} for tg, members in targets.items()}
        found += criteria.unhealthy_targets(mine, seen, ctx.now, unhealthy_spec.for_seconds, gaps)
    if silent_spec:
        # Running (DescribeInstanceStatus lists running instances only) and registered past `initial`.
        eligible = [i for i in candidates if i in checks and any(
            members.get(i, ("initial", None))[0] != "initial" for members in health.values() if i in members)]
        # Silence never counts from before the instance's LaunchTime (a start after a stop renews it): one
        # DescribeInstances per 1000 quiet instances, none when every eligible instance reports.
        quiet = criteria.quiet(series, eligible, end, silent_spec.for_seconds)
        launched = ec2.launch_times(quiet) if quiet else {}
        found += criteria.silent(series, eligible, read_start, end, group.metric.period_seconds,
                                 silent_spec.for_seconds, launched=launched)
    return found


def _choose_failing(ctx: StepContext, found: list[criteria.Failing], passed: dict[str, str]) -> criteria.Failing | None:
    """The first due failing instance not passed over (claimed for this run); the ones passed over in ``passed``."""
    for failing in criteria.ordered(found):
        if failing.instance_id in passed:
            continue
        why = _passed_over(ctx, failing.instance_id)
        if why is None:
            return failing
        passed[failing.instance_id] = why
    return None


def _select_failing(ctx: StepContext, record: RemediationRecord, chosen: criteria.Failing,
                    passed: dict[str, str]) -> dict[str, Any]:
    details = {**chosen.details(), "passed_over": sorted(passed)}
    ctx.audit(chosen.code, chosen.sentence, instance_id=chosen.instance_id, **details)
    ctx.audit(Reason.SELECTED, f"{chosen.sentence}; chosen by criterion {chosen.criterion}",
              instance_id=chosen.instance_id, **details)
    result: dict[str, Any] = {"action": "remediate", "instance_id": chosen.instance_id, "value": None,
                              "threshold": None, "reason": chosen.sentence, "criterion": chosen.criterion}
    if chosen.first_rung:
        result["first_rung"] = chosen.first_rung
    lifecycle.advance(record, "select", result, ctx.now, ctx.execution_id, instance_id=chosen.instance_id)
    return result


def _candidates(ctx: StepContext, record: RemediationRecord,
                states: dict[str, dict[str, str]]) -> tuple[list[str], str | None, list[str]]:
    """The instances selection may consider (registered, not leaving; only the named one if one is named), the
    name, and every registered instance not leaving (the peers the silent criterion compares with)."""
    # Draining from any one target group means someone (an operator, an ASG, another tool) is taking it
    # out already: never touch it.
    leaving = {i for members in states.values() for i, s in members.items() if s in LEAVING}
    instances = everyone = sorted({i for members in states.values() for i in members} - leaving)
    named = ctx.state.request.instance_id
    if ctx.state.request.replay_of and not named:
        # A replay never picks a second instance: it re-evaluates the one this remediation chose.
        named = (record.facts or {}).get("select", {}).get("instance_id")
    if named:
        instances = [named] if named in instances else []
    return instances, named, everyone


def _select_by_evidence(ctx: StepContext, record: RemediationRecord, named: str,
                        instances: list[str]) -> dict[str, Any] | None:
    """The named instance chosen on the request's own evidence (steps/domain/evidence.py): an operator's force, or
    the alarm that started it, re-read now. None: no such evidence; the group's criteria judge it as usual."""
    request = ctx.state.request
    if request.force:
        verdict: evidence.Verdict | None = evidence.forced(named, request.requested_by)
    elif request.alarm_name and request.trigger in ("alarm", "replay"):
        verdict = evidence.from_alarm(named, alarms.now(request.alarm_name))
    else:
        return None
    if verdict is None:
        return None
    details = {"criterion": verdict.criterion, **(verdict.details or {})}
    reason = verdict.reason
    if verdict.chosen:
        # Every guard still applies: not in service, or passed over (ASG state, shared, claimed elsewhere).
        why = _passed_over(ctx, named) if named in instances else f"{named} is not in service in the group"
        if why is not None:
            reason = why
        else:
            ctx.audit(Reason.SELECTED, reason, instance_id=named, **details,
                      **({"first_rung": verdict.first_rung} if verdict.first_rung else {}))
            result: dict[str, Any] = {"action": "remediate", "instance_id": named, "value": None, "threshold": None,
                                      "reason": reason, "criterion": verdict.criterion}
            if verdict.first_rung:
                result["first_rung"] = verdict.first_rung
            lifecycle.advance(record, "select", result, ctx.now, ctx.execution_id, instance_id=named)
            return result
    ctx.audit(Reason.NOTHING_TO_DO, reason, instance_id=named, **details)
    nothing = {"action": "nothing_to_do", "value": None, "threshold": None, "reason": reason}
    lifecycle.advance(record, "find_nothing", nothing, ctx.now, ctx.execution_id)
    return nothing


def _read_metric(metric: MetricSpec, instances: list[str], start: float, end: float,
                 ) -> tuple[dict[str, cloudwatch.Series], dict[str, list[cloudwatch.DimensionSet]]]:
    queries = [
        cloudwatch.MetricQuery(i, metric.namespace, metric.name, metric.stat, metric.period_seconds,
                               tuple(sorted(metric.dimensions.items())))
        for i in instances
    ]
    return cloudwatch.discover_and_read(queries, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))


# Events after which an instance's earlier datapoints say nothing about it: its memory was reset.
RESETS = frozenset({Reason.REBOOT_REQUESTED, Reason.STOP_REQUESTED})


def _since_last_reset(group: str, series: dict[str, cloudwatch.Series], start: float) -> dict[str, cloudwatch.Series]:
    """Each series without the datapoints from before the instance's last reboot (or stop) within the evaluation
    window (one query of the group's audit trail over the window): a datapoint stamped before the reset covers
    memory the reset freed, so an instance healed minutes ago is not breaching again on its old datapoints
    (with max_in_flight above 1, the group's next remediation selects right after this one healed). Only the
    datapoints whose period starts at or after the reset count (missing data is not a breach)."""
    reset_at: dict[str, float] = {}
    for record in audit.for_group(group, since=start):
        if record.event in RESETS and record.instance_id:
            at = float(record.at)
            reset_at[record.instance_id] = max(at, reset_at.get(record.instance_id, at))
    if not reset_at:
        return series
    return {i: ([(t, v) for t, v in s if t >= reset_at[i]] if i in reset_at else s) for i, s in series.items()}


def _in_flight_elsewhere(ctx: StepContext) -> dict[str, str]:
    """Instances the group's other remediations selected (instance -> execution), read from the group's slots
    (steps/store/lock.py): passed over without a claim attempt each. Nothing to read with one slot."""
    group = ctx.group
    head = ledger.head(ledger.head_key(group.name)) if group.in_flight.count != 1 else None
    seen = int(head.seen_slots) if head is not None and head.seen_slots else 1
    if seen <= 1 and group.in_flight.count == 1:
        return {}
    keys = [lock.slot_key(group.name, i) for i in range(max(seen, group.in_flight.count or 1))]
    return {item.instance: item.owner for item in lock.slots(keys)
            if item.instance and item.owner != ctx.execution_id}


# With several slots, the group's selections (the cascade starts one every few seconds) share one
# DescribeTargetHealth per target group per SHARED_READ_SECONDS / 2 (steps/remediate/polls.py): selection takes no
# instance out (the capacity check and the re-checks before every mutating call read AWS themselves).
SHARED_READ_SECONDS = 10


def _target_health(ctx: StepContext) -> dict[str, dict[str, tuple[str, str | None]]]:
    group = ctx.group
    if group.in_flight.count == 1:
        return elbv2.group_target_health(group.target_group_arns)
    shared = polls.target_groups(group.target_group_arns, poll_seconds=SHARED_READ_SECONDS, not_before=0.0,
                                 owner=ctx.execution_id)
    return {arn: elbv2.health_by_instance(registrations) for arn, registrations in shared.items()}


@step
def select_worst_instance(ctx: StepContext) -> dict[str, Any]:
    result = _select(ctx)
    # With several slots, the group's other remediations read each slot's instance to pass it over (one slot:
    # nobody else selects while this execution holds the group).
    several = ctx.group.in_flight.count != 1 or ctx.lock_key != ctx.group.name
    if several and result.get("action") == "remediate" and not lock.note_instance(
            ctx.lock_key, ctx.execution_id, str(result["instance_id"])):
        raise LockLost(f"the lock of {ctx.group.name} ({ctx.lock_key}) is no longer held by this execution")
    return result


def _select(ctx: StepContext) -> dict[str, Any]:
    record = lifecycle.load(ctx.state.request.remediation_id)
    earlier = lifecycle.recorded(record, "select")
    if earlier is not None:
        return earlier
    group = ctx.group
    metric = group.metric
    health = _target_health(ctx)
    if group.in_flight.percent is not None:
        ledger.note_registered(group.name, len({i for members in health.values() for i in members}))
    elsewhere = _in_flight_elsewhere(ctx)
    health_now = {tg: {i: h[0] for i, h in m.items()} for tg, m in health.items()}
    instances, named, everyone = _candidates(ctx, record, health_now)
    if elsewhere and not named:
        # Being remediated by another execution of the group: not a candidate (``everyone`` still holds it: the
        # silent criterion's peers).
        instances = [i for i in instances if i not in elsewhere]
    if named:
        by_evidence = _select_by_evidence(ctx, record, named, instances)
        if by_evidence is not None:
            return by_evidence
    by_metric = group.selects("metric") is not None
    silent_spec = group.selects("silent")
    # Only the last N periods whose datapoints are complete and readable despite the ingestion delay:
    # the newest period(s) are not readable yet, so reading up to now would count them as missing.
    start, end = evaluation_window(ctx.now, metric.period_seconds, metric.evaluation_datapoints,
                                   metric.ingestion_delay_seconds)
    # The silent criterion reads back past its for_seconds (one period more, to see the last datapoint).
    read_start = min(start, end - silent_spec.for_seconds - metric.period_seconds) if silent_spec else start
    # The silent criterion compares a named instance with its peers: it reads them all.
    series, read = (_read_metric(metric, everyone if silent_spec else instances, read_start, end)
                    if by_metric or silent_spec else ({}, {}))
    label = f"{metric.namespace}/{metric.name} ({metric.stat})"
    passed: dict[str, str] = {}  # instance -> why it was passed over (ASG state, shared, claimed elsewhere)
    found = _failing(ctx, health, instances, series, read_start, end)
    chosen = _choose_failing(ctx, found, passed)
    if chosen is not None:
        return _select_failing(ctx, record, chosen, passed)
    watched = criteria.watching(found)
    until = _watch_deadline(ctx, record)
    watch = criteria.watch(found, ctx.now, until)
    looks, allowed = (ctx.state.watch.looks if ctx.state.watch is not None else 0), history.watch_looks(group)
    ended: dict[str, Any] = {}  # how a watch ended, for the NOTHING_TO_DO audit
    if until is not None:
        ended = {"watched_until": until, "watch_deadline_passed": ctx.now >= until, "watch_looks": looks}
    if watch is not None and looks >= allowed:
        watch = None  # the execution's history budget is spent: end as when the deadline passes
        ended = {**ended, "watch_looks": looks, "watch_looks_allowed": allowed}
    # The metric criterion judges the candidates' last N periods only (silent may have read more).
    judged = set(instances)  # a set: `in` a list of N instances, N times, is quadratic (bench: 1.3 s at N = 5,000)
    series = {i: [(t, v) for t, v in s if t >= start] for i, s in series.items() if i in judged}
    read = {i: sets for i, sets in read.items() if i in judged}
    if (by_metric or silent_spec) and instances and not any(series.values()):
        return _no_metric_data(ctx, record, metric, label, instances, read)
    series = {i: s for i, s in series.items() if i not in passed}
    instances = [i for i in instances if i not in passed]
    if by_metric:
        series = _since_last_reset(group.name, series, start)
    if not by_metric:
        return _nothing_failing(ctx, record, named, instances, passed, watched, watch, until, ended)
    return _select_by_metric(ctx, record, series, instances, named, passed, watched, watch, until, ended)


def _watch_deadline(ctx: StepContext, record: RemediationRecord) -> float | None:
    """The deadline this execution fixed at its first watch: from the state (``$.watch``), else from the record
    when this very execution wrote it (a Retry of that first watch, or a redrive); None: not watching yet."""
    if ctx.state.watch is not None:
        return ctx.state.watch.until
    kept = (record.facts or {}).get("watch")
    if isinstance(kept, dict) and kept.get("execution") == ctx.execution_id and isinstance(kept.get("until"),
                                                                                          int | float):
        return float(kept["until"])
    return None


def _watch(ctx: StepContext, record: RemediationRecord, watch: criteria.Watch, until: float | None,
           numbers: dict[str, Any]) -> dict[str, Any]:
    """Keep the group past the next Wait and look again then; WATCHING audited once, at the first watch."""
    lease.keep(ctx, watch.seconds, watching=True)  # LockLost: another execution owns the group
    names = "; ".join(f"{w['instance_id']} first seen failing {ctx.now - w['first_seen']:.0f} s ago (needs "
                      f"{w['for_seconds']} s; a sighting carries across less than {w['max_gap_seconds']:.0f} s)"
                      for w in watch.instances)
    reason = (f"watching {names}: looking again in {watch.seconds} s, at the latest until "
              f"{watch.until - ctx.now:.0f} s from now")
    first = ctx.state.watch is None and until is None
    if first:
        record.facts = {**(record.facts or {}), "watch": {"execution": ctx.execution_id, "until": watch.until,
                                                         "since": ctx.now}}
        lifecycle.save_facts(record)
        ctx.audit(Reason.WATCHING, reason, instance_id=watch.instances[0]["instance_id"],
                  instances=watch.instances, until=watch.until,
                  watch_seconds=watch.seconds, **numbers)
    kept = (record.facts or {}).get("watch") or {}
    since = ctx.now if first else ctx.state.watch.since if ctx.state.watch else kept.get("since")
    return {"action": "watch", "value": None, "threshold": None, "reason": reason, "watch_seconds": watch.seconds,
            "watch_until": watch.until, "watch_since": since,
            "watch_looks": (ctx.state.watch.looks if ctx.state.watch is not None else 0) + 1}


def _select_by_metric(ctx: StepContext, record: RemediationRecord, series: dict[str, cloudwatch.Series],
                      instances: list[str], named: str | None, passed: dict[str, str],
                      watched: list[dict[str, Any]], watch: criteria.Watch | None,
                      until: float | None, ended: dict[str, Any]) -> dict[str, Any]:
    """The metric criterion (the default): the worst breach, or the named instance's, with M of N hysteresis."""
    metric = ctx.group.metric
    label = f"{metric.namespace}/{metric.name} ({metric.stat})"
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
    if watched:
        numbers["watching"] = watched
    if selection.instance_id is None:
        if watch is not None:
            return _watch(ctx, record, watch, until, numbers)
        reason = _nothing_reason(selection.reason, named, bool(instances), passed)
        ctx.audit(Reason.NOTHING_TO_DO, reason, instance_id=named, **numbers, **ended)
        result = {"action": "nothing_to_do", "value": selection.value, "threshold": metric.threshold,
                  "reason": reason}
        lifecycle.advance(record, "find_nothing", result, ctx.now, ctx.execution_id)
        return result
    ctx.audit(Reason.SELECTED, selection.reason, instance_id=selection.instance_id, criterion="metric", **numbers)
    result = {"action": "remediate", "instance_id": selection.instance_id, "value": selection.value,
              "threshold": metric.threshold, "reason": selection.reason, "criterion": "metric"}
    lifecycle.advance(record, "select", result, ctx.now, ctx.execution_id, instance_id=selection.instance_id)
    return result


def _nothing_failing(ctx: StepContext, record: RemediationRecord, named: str | None, instances: list[str],
                     passed: dict[str, str], watched: list[dict[str, Any]], watch: criteria.Watch | None,
                     until: float | None, ended: dict[str, Any]) -> dict[str, Any]:
    """A group that does not select by metric, with no instance failing long enough: watch, or nothing to do."""
    if watch is not None:
        return _watch(ctx, record, watch, until, {"criteria": [s.criterion for s in ctx.group.select],
                                                  "instances_evaluated": len(instances), "watching": watched,
                                                  "passed_over": sorted(passed)})
    names = ", ".join(s.criterion for s in ctx.group.select)
    reason = _nothing_reason(f"no instance fails {names} for long enough"
                             + (f" (watching {len(watched)}: "
                                + "; ".join(f"{w['instance_id']} {w['criterion']} {w['seconds']:.0f} of "
                                            f"{w['for_seconds']} s" for w in watched) + ")" if watched else ""),
                             named, bool(instances), passed)
    ctx.audit(Reason.NOTHING_TO_DO, reason, instance_id=named, criteria=[s.criterion for s in ctx.group.select],
              instances_evaluated=len(instances), watching=watched, passed_over=sorted(passed),
              **ended)
    result = {"action": "nothing_to_do", "value": None, "threshold": None, "reason": reason}
    lifecycle.advance(record, "find_nothing", result, ctx.now, ctx.execution_id)
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
