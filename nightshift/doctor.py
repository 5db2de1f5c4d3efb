"""`nightshift doctor`: find, before a remediation does, what would make one fail or do nothing.

Runs against AWS with the operator's credentials (read-only calls only: Describe*, List*, Get*), or
locally against the fleet simulator (``--simulated``). Each finding names what was checked, what was
found, and the fix. ``fail`` means a remediation of that group would fail or never happen; ``warn``
means it would work but not as well as it could; ``ok`` says what was verified.

What it checks, per group:

* the groups declaration parses (every validation rule of steps/core/config.py, incl. the history bound);
* every target group exists in this account and region, targets instances, and is tagged
  ``nightshift:managed=true`` (the IAM policies allow Deregister/RegisterTargets only on those); its port,
  protocol, deregistration delay and health check settings are shown;
* registered instances exist, are tagged ``nightshift:managed=true`` (reboot, stop/start and Run Command
  are tag-scoped), and the capacity floor lets at least one of them out (else it never remediates);
* the selection metric exists for each registered instance, and with which dimension sets (the CloudWatch
  agent appends dimensions; selection discovers them the same way);
* what the ``select`` criteria would see now: targets failing their health checks (and how long a first
  sighting carries between two looks), impaired status checks, target groups failing open;
* the drain and boot signals can work: the SSM agent is online and managed for each instance when a signal
  uses Run Command; the ports the drain signal will count (each target's registered port);
* the Auto Scaling groups the instances belong to, their health check type, and their tags; a floor that
  even their MaxSize cannot meet;
* the maintenance windows are open at some minute of the week;
* the worst-case Step Functions history of a remediation against the 25,000-event limit.

Across groups: instances (and Auto Scaling groups) that more than one group reaches.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from steps.core.config import GroupConfig, GroupsDocument, parse_groups
from steps.core.exceptions import ConfigurationError, MetricListingTooLarge
from steps.domain.capacity import required_healthy

OK, WARN, FAIL = "ok", "warn", "fail"
MANAGED_TAG = "nightshift:managed"
Client = Callable[[str], Any]


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok | warn | fail
    group: str | None
    subject: str
    message: str
    fix: str = ""

    def line(self) -> str:
        mark = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}[self.status]
        text = f"{mark} {self.group or '-'} {self.check}: {self.subject}: {self.message}"
        return text + (f"\n       fix: {self.fix}" if self.fix and self.status != OK else "")


@dataclass(frozen=True)
class Report:
    findings: list[Finding]

    @property
    def failed(self) -> bool:
        return any(f.status == FAIL for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        counts = {s: sum(1 for f in self.findings if f.status == s) for s in (OK, WARN, FAIL)}
        return {"ok": not self.failed, "counts": counts, "findings": [asdict(f) for f in self.findings]}

    def text(self) -> str:
        counts = self.as_json()["counts"]
        lines = [f.line() for f in self.findings]
        verdict = "a remediation would fail or do nothing" if self.failed else "no blocking problem found"
        lines.append(f"{counts[FAIL]} fail, {counts[WARN]} warn, {counts[OK]} ok: {verdict}")
        return "\n".join(lines)


def _tags_of(response_tags: Iterable[dict[str, Any]]) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in response_tags}


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


class _Group:
    """The checks of one group; each appends findings and returns what later checks need."""

    def __init__(self, group: GroupConfig, client: Client, region: str, account: str | None) -> None:
        self.group = group
        self.client = client
        self.region = region
        self.account = account
        self.findings: list[Finding] = []
        self.ports: dict[str, set[int]] = defaultdict(set)  # instance id -> the ports it is registered on
        self.members: dict[str, dict[str, str]] = {}  # target group arn -> {instance id: state}
        self.reasons: dict[str, dict[str, str]] = {}  # target group arn -> {instance id: TargetHealth reason}
        self.asg_members: dict[str, list[str]] = {}  # Auto Scaling group -> the group's instances in it

    def add(self, check: str, status: str, subject: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(check, status, self.group.name, subject, message, fix))

    # -- target groups -----------------------------------------------------------------------------
    def target_groups(self) -> dict[str, dict[str, Any]]:
        """arn -> the target group's description, for those that exist and can be used."""
        elbv2 = self.client("elbv2")
        found: dict[str, dict[str, Any]] = {}
        for arn in self.group.target_group_arns:
            parts = arn.split(":")
            if parts[3] != self.region or (self.account and parts[4] != self.account):
                self.add("target_group", FAIL, arn,
                         f"in region {parts[3]} / account {parts[4]}, but these credentials are for "
                         f"{self.region} / {self.account or '?'}",
                         "deploy Nightshift in the target group's region and account, or fix the ARN")
                continue
            try:
                described = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
                attributes = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
                    TargetGroupArn=arn)["Attributes"]}
                tags = _tags_of(elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0].get("Tags", []))
            except Exception as exc:  # TargetGroupNotFound, AccessDenied: both stop a remediation
                self.add("target_group", FAIL, arn, f"cannot be described: {_why(exc)}",
                         "fix target_group_arns in the groups declaration (or allow elasticloadbalancing:Describe* "
                         "to these credentials)")
                continue
            if described.get("TargetType", "instance") != "instance":
                self.add("target_group", FAIL, arn,
                         f"targets are of type {described.get('TargetType')!r}; Nightshift registers instances",
                         "use target groups of TargetType instance")
                continue
            delay = attributes.get("deregistration_delay.timeout_seconds", "300")
            self.add("target_group", OK, arn,
                     f"{described.get('Protocol')} port {described.get('Port')}, deregistration delay {delay} s, "
                     f"health check {described.get('HealthCheckProtocol')} {described.get('HealthCheckPath') or ''}"
                     f" every {described.get('HealthCheckIntervalSeconds')} s, healthy after "
                     f"{described.get('HealthyThresholdCount')}, unhealthy after "
                     f"{described.get('UnhealthyThresholdCount')}")
            if tags.get(MANAGED_TAG) != "true":
                self.add("tags", FAIL, arn, f"not tagged {MANAGED_TAG}=true: DeregisterTargets and RegisterTargets "
                         "will be denied by Nightshift's IAM policy",
                         f"tag the target group {MANAGED_TAG}=true (see docs/deploy.md)")
            found[arn] = {**described, "deregistration_delay": int(delay)}
        return found

    def targets(self, groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
        """arn -> {instance id: state}, and the ports each instance is registered on."""
        elbv2 = self.client("elbv2")
        members: dict[str, dict[str, str]] = {}
        for arn, described in groups.items():
            descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            members[arn] = {}
            for d in descriptions:
                instance_id = str(d["Target"]["Id"])
                members[arn][instance_id] = str(d["TargetHealth"]["State"])
                self.reasons.setdefault(arn, {})[instance_id] = str(d["TargetHealth"].get("Reason") or "")
                self.ports[instance_id].add(int(d["Target"].get("Port") or described.get("Port") or 0))
            if not descriptions:
                self.add("capacity", FAIL, arn, "no registered targets: there is nothing to remediate",
                         "register the group's instances, or remove the target group from the group")
        return members

    # -- capacity floor ----------------------------------------------------------------------------
    def capacity(self, members: dict[str, dict[str, str]]) -> None:
        g = self.group
        self.members = members
        if g.floor == 0 and g.min_healthy_percent == 0:
            self.add("capacity", WARN, "min_healthy", "allow_zero_healthy with min_healthy 0 and min_healthy_percent "
                     "0: a remediation may take out the last healthy target", "set min_healthy to at least 1")
        for arn, states in members.items():
            registered = len(states)
            if not registered:
                continue
            needed = required_healthy(registered, g.floor, g.min_healthy_percent)
            healthy = sum(1 for s in states.values() if s == "healthy")
            name = arn.split("/")[-2] if "/" in arn else arn
            if registered - 1 < needed:
                self.add("capacity", FAIL, name,
                         f"{registered} registered but {needed} must stay healthy: no instance can ever be taken out",
                         f"lower min_healthy (now {g.min_healthy}) / min_healthy_percent (now "
                         f"{g.min_healthy_percent:g}), or add instances")
            elif healthy - 1 < needed:
                self.add("capacity", WARN, name,
                         f"{healthy} of {registered} healthy now, {needed} must stay healthy: no room today",
                         "heal or add instances; Nightshift will wait (SKIPPED_CAPACITY)")
            else:
                self.add("capacity", OK, name, f"{healthy} of {registered} healthy, {needed} must stay healthy")

    # -- instances: existence, tags, SSM -------------------------------------------------------------
    def instances(self, instance_ids: list[str]) -> None:
        if not instance_ids:
            return
        ec2 = self.client("ec2")
        seen: dict[str, dict[str, str]] = {}
        for chunk in _chunks(instance_ids, 100):
            try:
                # A filter, not InstanceIds: one unknown id would fail the whole call (InvalidInstanceID.NotFound).
                pages = ec2.get_paginator("describe_instances").paginate(
                    Filters=[{"Name": "instance-id", "Values": chunk}])
                for page in pages:
                    for reservation in page["Reservations"]:
                        for instance in reservation["Instances"]:
                            seen[instance["InstanceId"]] = _tags_of(instance.get("Tags", []))
            except Exception as exc:
                self.add("instances", FAIL, ", ".join(chunk[:3]), f"cannot be described: {_why(exc)}",
                         "check the credentials allow ec2:DescribeInstances")
                return
        untagged = sorted(i for i in instance_ids if seen.get(i, {}).get(MANAGED_TAG) != "true")
        missing = sorted(set(instance_ids) - set(seen))
        if missing:
            self.add("instances", FAIL, ", ".join(missing), "registered but not found in EC2",
                     "deregister the stale targets")
        if untagged:
            self.add("tags", FAIL, _few(untagged),
                     f"{len(untagged)} instance(s) not tagged {MANAGED_TAG}=true: reboot, stop/start and Run "
                     "Command will be denied by Nightshift's IAM policy",
                     f"tag the instances {MANAGED_TAG}=true (in the launch template for an ASG)")
        else:
            self.add("tags", OK, f"{len(instance_ids)} instance(s)", f"all tagged {MANAGED_TAG}=true")

    def ssm_signals(self, instance_ids: list[str]) -> None:
        uses_ssm = [what for what, signal in (("drain", self.group.drain.signal), ("boot", self.group.boot.signal))
                    if signal == "ssm"]
        if not uses_ssm:
            return
        online = self._ssm_online(instance_ids)
        offline = sorted(i for i in instance_ids if online.get(i) != "Online")
        signals = " and ".join(f"{w} signal" for w in uses_ssm)
        if offline:
            shown = ", ".join(f"{i} ({online.get(i, 'not managed')})" for i in offline[:5])
            self.add("ssm", FAIL, _few(offline),
                     f"the {signals} use Run Command, but {len(offline)} instance(s) have no online SSM agent: "
                     f"{shown}" + (" ..." if len(offline) > 5 else ""),
                     "install/start the SSM agent and attach an instance profile with AmazonSSMManagedInstanceCore"
                     ", or set drain.signal target_state / boot.signal none")
        else:
            self.add("ssm", OK, f"{len(instance_ids)} instance(s)", f"SSM agent online for the {signals}")
        if self.group.drain.signal == "ssm":
            ports = sorted({p for i in instance_ids for p in self.ports.get(i, set())})
            self.add("drain", OK, "ports", f"the drain counts established connections from non-loopback peers on "
                     f"the registered port(s) {', '.join(map(str, ports))}")

    def _ssm_online(self, instance_ids: list[str]) -> dict[str, str]:
        ssm = self.client("ssm")
        status: dict[str, str] = {}
        for chunk in _chunks(instance_ids, 50):
            pages = ssm.get_paginator("describe_instance_information").paginate(
                Filters=[{"Key": "InstanceIds", "Values": chunk}])
            for page in pages:
                for info in page.get("InstanceInformationList", []):
                    status[str(info["InstanceId"])] = str(info.get("PingStatus", "Unknown"))
        return status

    # -- the metric ----------------------------------------------------------------------------------
    def metric(self, instance_ids: list[str]) -> None:
        """Read the metric exactly as selection will: discovered sets, the group's filter, its window."""
        from datetime import UTC, datetime

        from steps.aws import cloudwatch
        from steps.core import clock
        from steps.domain.selection import evaluation_window

        m = self.group.metric
        label = f"{m.namespace}/{m.name} ({m.stat}, {m.period_seconds} s)"
        wanted = tuple(sorted(m.dimensions.items()))
        queries = [cloudwatch.MetricQuery(i, m.namespace, m.name, m.stat, m.period_seconds, wanted)
                   for i in instance_ids]
        start, end = evaluation_window(clock.now(), m.period_seconds, m.evaluation_datapoints,
                                       m.ingestion_delay_seconds)
        try:
            series, read = cloudwatch.discover_and_read(queries, datetime.fromtimestamp(start, UTC),
                                                        datetime.fromtimestamp(end, UTC))
        except MetricListingTooLarge as exc:  # selection would fail the same way: say so, keep diagnosing
            self.add("metric", FAIL, label, str(exc).split("; nothing was selected")[0],
                     "publish this fleet's metric under a namespace of its own, or split the group into "
                     f"groups of at most {cloudwatch.SMALL_GROUP} instances")
            return
        with_data = sorted(i for i in instance_ids if series.get(i))
        without = sorted(set(instance_ids) - set(with_data))
        shapes = sorted({tuple(name for name, _ in s) for sets in read.values() for s in sets})
        shown_sets = "; ".join("{" + ", ".join(s) + "}" for s in shapes)
        if not with_data:
            seen = cloudwatch.dimension_names_seen(m.namespace, m.name)
            exists = "; ".join("{" + ", ".join(s) + "}" for s in seen[:5]) or "none at all"
            filtered = f" matching metric.dimensions {dict(m.dimensions)}" if m.dimensions else ""
            self.add("metric", FAIL, label,
                     f"no datapoint in the last {m.evaluation_datapoints} readable periods for any of the "
                     f"{len(instance_ids)} registered instance(s){filtered}: selection would audit NO_METRIC_DATA; "
                     f"dimension sets read: {shown_sets or 'none'}; sets that exist for this metric: {exists}",
                     "install the CloudWatch agent with InstanceId among its dimensions (append_dimensions or "
                     "aggregation_dimensions [[\"InstanceId\"]]), or fix metric.namespace / metric.name / "
                     "metric.dimensions / metric.stat")
            return
        if without:
            silent = self.group.selects("silent")
            self.add("metric", WARN, _few(without),
                     f"{len(without)} of {len(instance_ids)} instance(s) have no datapoint of {label} in the "
                     "evaluation window: "
                     + (f"the silent criterion will choose them once silent {silent.for_seconds} s since their "
                        "LaunchTime while peers report" if silent else "they can never be selected by the metric"),
                     "check the CloudWatch agent on those instances")
        self.add("metric", OK, label, f"{len(with_data)} of {len(instance_ids)} instance(s) report it in the last "
                 f"{m.evaluation_datapoints} readable periods; dimension sets: {shown_sets}")

    # -- selection criteria and fail open ----------------------------------------------------------------
    def selection(self, described: dict[str, dict[str, Any]], instance_ids: list[str]) -> None:
        """What the group's ``select`` criteria would see now: targets failing their health checks (with the
        longest gap between two looks that still carries a first sighting), impaired status checks, and target
        groups failing open (every remediation refused until one target is healthy)."""
        from steps.domain import criteria

        g = self.group
        self.add("select", OK, ", ".join(s.criterion for s in g.select),
                 "; ".join(f"{s.criterion}" + (f" for {s.for_seconds} s" if s.criterion != "metric" else "")
                           for s in g.select))
        for arn, states in self.members.items():
            name = arn.split("/")[-2] if "/" in arn else arn
            if states and not any(v == "healthy" for v in states.values()) and "unhealthy" in states.values():
                self.add("select", WARN, name, "no healthy target and at least one unhealthy: the load balancer "
                         "fails open (routes to every target); every remediation is refused (SKIPPED_FAIL_OPEN) "
                         "until a target is healthy", "find why the targets fail their health checks")
        unhealthy = g.selects("unhealthy_target")
        if unhealthy:
            for arn, reasons in self.reasons.items():
                name = arn.split("/")[-2] if "/" in arn else arn
                d = described.get(arn, {})
                gap = criteria.recover_and_fail_seconds(d.get("HealthCheckIntervalSeconds") or 30,
                                                        d.get("UnhealthyThresholdCount") or 2)
                failing = sorted(i for i, r in reasons.items()
                                 if self.members.get(arn, {}).get(i) == criteria.UNHEALTHY
                                 and r in criteria.HEALTH_CHECK_FAILURES)
                self.add("select", WARN if failing else OK, name,
                         (f"{len(failing)} target(s) fail their health checks now ({_few(failing)}): "
                          f"unhealthy_target chooses them after {unhealthy.for_seconds} s; "
                          if failing else "no target fails its health checks now; ")
                         + f"a first sighting carries to the next look only within {gap:g} s "
                           "(UnhealthyThresholdCount x HealthCheckIntervalSeconds)",
                         "heal or deregister the failing targets" if failing else "")
        status = g.selects("status_check")
        if status and instance_ids:
            from botocore.exceptions import ClientError

            impaired = []
            try:
                for chunk in _chunks(instance_ids, 100):
                    pages = self.client("ec2").get_paginator("describe_instance_status").paginate(InstanceIds=chunk)
                    for page in pages:
                        impaired += [st["InstanceId"] for st in page.get("InstanceStatuses", [])
                                     if criteria.IMPAIRED in (st.get("InstanceStatus", {}).get("Status"),
                                                              st.get("SystemStatus", {}).get("Status"))]
            except ClientError as exc:
                if _why(exc).startswith("InvalidInstanceID.NotFound"):  # the instances check names them
                    self.add("select", WARN, "status checks", "not checked: a registered instance does not exist "
                             f"({_why(exc)})", "deregister the stale targets (see the instances check)")
                    return
                raise
            impaired.sort()
            self.add("select", WARN if impaired else OK, "status checks",
                     f"{len(impaired)} instance(s) impaired now ({_few(impaired)}): status_check chooses them "
                     f"after {status.for_seconds} s" if impaired
                     else f"no instance impaired now (of {len(instance_ids)})",
                     "see the instances' status checks in the EC2 console" if impaired else "")

    # -- Auto Scaling --------------------------------------------------------------------------------
    def auto_scaling(self, instance_ids: list[str], target_groups: list[str]) -> None:
        if not instance_ids:
            return
        asg = self.client("autoscaling")
        membership: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks(instance_ids, 50):
            for page in asg.get_paginator("describe_auto_scaling_instances").paginate(InstanceIds=chunk):
                for entry in page.get("AutoScalingInstances", []):
                    membership[str(entry["AutoScalingGroupName"])].append(str(entry["InstanceId"]))
        if not membership:
            self.add("auto_scaling", OK, "-", "no instance belongs to an Auto Scaling group")
            return
        if not self.group.auto_scaling.enabled:
            self.add("auto_scaling", FAIL, ", ".join(sorted(membership)),
                     "instances belong to Auto Scaling groups but auto_scaling.enabled is false: the ASG may "
                     "replace an instance while it reboots (failed status checks) or re-register it",
                     "set auto_scaling.enabled true (the default)")
            return
        self.asg_members = dict(membership)
        described = [g for page in asg.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=sorted(membership)) for g in page["AutoScalingGroups"]]
        self._floor_beyond_max_size(membership, described)
        for g in described:
            name = str(g["AutoScalingGroupName"])
            tags = {str(t["Key"]): str(t["Value"]) for t in g.get("Tags", [])}
            attached = set(g.get("TargetGroupARNs", []))
            self.add("auto_scaling", OK, name,
                     f"{len(membership[name])} member(s) in this group; health check {g.get('HealthCheckType')}, "
                     f"grace {g.get('HealthCheckGracePeriod')} s, size {g.get('MinSize')}-{g.get('MaxSize')} "
                     f"(desired {g.get('DesiredCapacity')})")
            if tags.get(MANAGED_TAG) != "true":
                self.add("tags", FAIL, name, f"Auto Scaling group not tagged {MANAGED_TAG}=true: EnterStandby, "
                         "ExitStandby and SetInstanceHealth will be denied by Nightshift's IAM policy",
                         f"tag the Auto Scaling group {MANAGED_TAG}=true")
            rungs = [r.action for r in self.group.escalation.rungs]
            if "replace" in rungs and not set(target_groups) <= attached:
                self.add("auto_scaling", WARN, name, "not attached to every target group of the group: the "
                         "'replace' rung will be skipped for its members",
                         "attach the target groups to the Auto Scaling group, or drop the replace rung")

    def _floor_beyond_max_size(self, membership: dict[str, list[str]], described: list[dict[str, Any]]) -> None:
        """A target group whose every target is an Auto Scaling member can never hold more targets than
        those groups' MaxSize: a floor that needs all of them is never met, however far the fleet scales."""
        group_of = {i: name for name, ids in membership.items() for i in ids}
        max_size = {str(g["AutoScalingGroupName"]): int(g.get("MaxSize", 0)) for g in described}
        for arn, states in self.members.items():
            if not states or any(i not in group_of for i in states):
                continue  # targets outside any ASG: no bound known
            asgs = sorted({group_of[i] for i in states})
            most = sum(max_size.get(name, 0) for name in asgs)
            needed = required_healthy(most, self.group.floor, self.group.min_healthy_percent)
            if most - 1 < needed:
                name = arn.split("/")[-2] if "/" in arn else arn
                self.add("capacity", FAIL, name,
                         f"its targets all belong to Auto Scaling group(s) {', '.join(asgs)} of MaxSize {most} in all, "
                         f"and {needed} must stay healthy: no instance can ever be taken out, however far it scales",
                         f"lower min_healthy (now {self.group.min_healthy}) / min_healthy_percent (now "
                         f"{self.group.min_healthy_percent:g}) below {most}")

    # -- configuration that can never act, and the history bound ----------------------------------
    def settings(self) -> None:
        from steps.domain.window import open_minutes_per_week

        windows = self.group.blockers.maintenance_windows
        if windows:
            minutes = open_minutes_per_week(windows)
            if minutes == 0:
                self.add("windows", FAIL, ", ".join(windows), "open zero minutes a week: nothing is ever remediated",
                         "fix blockers.maintenance_windows (e.g. 'daily 01:00-05:00', UTC)")
            else:
                self.add("windows", OK, ", ".join(windows), f"open {minutes / 60:g} h a week (UTC)")
        from steps.domain.history import worst_case_events

        bound = worst_case_events(self.group)
        self.add("history", OK if bound.ok else FAIL, "worst case",
                 f"{bound.events:,} history events at most, budget {bound.budget:,} of AWS's {bound.limit:,}: "
                 f"{bound.detail}", "raise the poll intervals or lower the deadlines")


def _few(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (f" (+{len(ids) - 3} more)" if len(ids) > 3 else "")


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def _guarded(checks: _Group, name: str, run: Callable[[], Any], default: Any = None) -> Any:
    """Run one check; an AWS error (a missing permission, a throttle) becomes a finding, not a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    from steps.core.exceptions import AwsCallFailed, AwsThrottled, AwsUnavailable

    try:
        return run()
    except ClientError as exc:
        operation = exc.operation_name or "the call"
        checks.add(name, FAIL, operation, f"could not be checked: {_why(exc)}",
                   f"allow {operation} to the credentials you run doctor with, then run it again")
    except (BotoCoreError, AwsCallFailed, AwsThrottled, AwsUnavailable) as exc:
        checks.add(name, FAIL, "-", f"could not be checked: {exc}", "check the credentials and network, then run again")
    return default


def diagnose_group(group: GroupConfig, client: Client, region: str, account: str | None,
                   seen: dict[str, dict[str, set[str]]] | None = None) -> list[Finding]:
    """``seen``, when given, collects which groups reach each instance and each Auto Scaling group."""
    checks = _Group(group, client, region, account)
    found: dict[str, dict[str, Any]] = _guarded(checks, "target_group", checks.target_groups, {})
    members: dict[str, dict[str, str]] = _guarded(checks, "capacity", lambda: checks.targets(found), {})
    instance_ids = sorted({i for states in members.values() for i in states})
    checks.capacity(members)
    if instance_ids:
        _guarded(checks, "instances", lambda: checks.instances(instance_ids))
        _guarded(checks, "ssm", lambda: checks.ssm_signals(instance_ids))
        _guarded(checks, "metric", lambda: checks.metric(instance_ids))
        _guarded(checks, "select", lambda: checks.selection(found, instance_ids))
        _guarded(checks, "auto_scaling", lambda: checks.auto_scaling(instance_ids, list(found)))
    checks.settings()
    if seen is not None:
        for instance_id in instance_ids:
            seen.setdefault("instance", {}).setdefault(instance_id, set()).add(group.name)
        for asg_name in checks.asg_members:
            seen.setdefault("Auto Scaling group", {}).setdefault(asg_name, set()).add(group.name)
    return checks.findings


def overlaps(seen: dict[str, dict[str, set[str]]]) -> list[Finding]:
    """Instances (or Auto Scaling groups) that two declared groups reach: validation refuses a target group
    in two groups, but cannot see an instance registered in a target group of each."""
    found = []
    for kind, reached in sorted(seen.items()):
        shared = {subject: names for subject, names in reached.items() if len(names) > 1}
        by_groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for subject, names in shared.items():
            by_groups[tuple(sorted(names))].append(subject)
        for group_names, subjects in sorted(by_groups.items()):
            shown = ", ".join(sorted(subjects)[:3]) + (f" and {len(subjects) - 3} more" if len(subjects) > 3 else "")
            found.append(Finding(
                "overlap", WARN, None, f"groups {', '.join(group_names)}",
                f"{len(subjects)} {kind}(s) reached by more than one group ({shown}): the instance claim keeps two "
                "remediations off one instance, but each group judges capacity only in its own target groups",
                "register each instance behind the target groups of one group only (or merge the groups)"))
    return found


def diagnose(raw: str | None, client: Client, region: str, account: str | None,
             only_group: str | None = None) -> Report:
    """Every finding for the declared groups (or one), read-only."""
    if raw is None:
        return Report([Finding("config", FAIL, None, "groups declaration", "none found",
                               "pass --groups-file, --groups-parameter, or set NIGHTSHIFT_GROUPS_PARAMETER")])
    try:
        document: GroupsDocument = parse_groups(raw)
    except ConfigurationError as exc:
        return Report([Finding("config", FAIL, None, "groups declaration", str(exc),
                               "fix the field the message names; nothing runs until it parses")])
    findings = [Finding("config", OK, None, "groups declaration",
                        f"parses: {len(document.groups)} group(s): {', '.join(g.name for g in document.groups)}")]
    groups = document.groups
    if only_group is not None:
        groups = [document.group(only_group)]
    seen: dict[str, dict[str, set[str]]] = {}
    for group in groups:
        findings.extend(diagnose_group(group, client, region, account, seen))
    findings.extend(overlaps(seen))
    return Report(findings)


def print_report(report: Report, as_json: bool) -> None:
    print(json.dumps(report.as_json(), indent=2) if as_json else report.text())
