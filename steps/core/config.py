"""One typed settings object: the groups an operator declares, and the environment the steps run in.

Groups are declared as JSON in one SSM parameter (``NIGHTSHIFT_GROUPS_PARAMETER``) or, for tests and
the local runtime, inline in ``NIGHTSHIFT_GROUPS``. The same model validates both, so a bad
declaration fails with the field's name before anything in AWS changes.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from steps.core.exceptions import ConfigurationError

if TYPE_CHECKING:
    from steps.domain.in_flight import Share

# \Z, not $: "$" also matches before a trailing newline, which would let "web\n" through.
TARGET_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[\w-]+/\w+\Z")
GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
# GetMetricData periods below a minute, for high-resolution metrics only (MetricStat, Period).
SUB_MINUTE_PERIODS = (1, 5, 10, 20, 30)
# The statistics GetMetricData takes as MetricStat.Stat (case-sensitive): the five plain ones, and the
# extended ones (percentile pNN.NN, tmNN / TM(a:b), wmNN / WM(a:b), tcNN / TC(a:b), tsNN / TS(a:b),
# PR(a:b), IQM; bounds are numbers or percentages, up to 10 decimals).
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
PLAIN_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENT = r"(?:100(?:\.0{1,10})?|\d{1,2}(?:\.\d{1,10})?)"
_BOUND = r"(?:\d+(?:\.\d{1,10})?%?)"
_EXTENDED_STATISTIC = re.compile(
    rf"(?:p|tm|wm|tc|ts){_PERCENT}|(?:TM|WM|TC|TS|PR)\((?:{_BOUND}:{_BOUND}?|:{_BOUND})\)|IQM")


class _Strict(BaseModel):
    # defer_build: pydantic builds a model's validator when it first validates, not when this module is
    # imported (the declaration's dozen models are read only by the steps and paths that read a group; the
    # restore path and the notifications never do). A Lambda container runs one invocation at a time.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class MetricSpec(_Strict):
    """The per-instance metric that says an instance is degraded (e.g. the CloudWatch agent's memory)."""

    namespace: str = "CWAgent"
    name: str = "mem_used_percent"
    stat: str = "Average"
    period_seconds: Annotated[int, Field(ge=1)] = 60
    # The metric's storage resolution, as it is published: 60 (standard, one-minute granularity; the
    # CloudWatch agent at its default metrics_collection_interval of 60 s) or 1 (high resolution, published
    # with StorageResolution 1; the agent does so when its interval is below 60 s).
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html#high-resolution-metrics
    resolution_seconds: Literal[1, 60] = 60
    # How long after a period ends its datapoint is complete and readable. AWS documents no number;
    # 60 s is our assumption. Selection reads only periods that ended at least this long ago.
    ingestion_delay_seconds: Annotated[int, Field(ge=0, le=900)] = 60
    # Optional filter on each instance's discovered dimension sets (ListMetrics): only series carrying every
    # one of these Name/Value pairs are read, e.g. {"AutoScalingGroupName": "web-asg"}. Empty: every series
    # of the instance. Never a complete set: the agent appends InstanceId, ImageId, InstanceType... itself.
    dimensions: dict[str, str] = Field(default_factory=dict)
    # A finite number >= 0: a negative threshold makes every instance "breach" (a healthy one is rebooted);
    # NaN never compares greater, so it would silently select nothing.
    threshold: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 65.0
    # Hysteresis: a candidate must breach in at least `breaching_datapoints` of the last
    # `evaluation_datapoints` periods. Missing datapoints never count as a breach.
    breaching_datapoints: Annotated[int, Field(ge=1)] = 3
    evaluation_datapoints: Annotated[int, Field(ge=1, le=60)] = 5

    @field_validator("dimensions")
    @classmethod
    def _no_instance_id(cls, dimensions: dict[str, str]) -> dict[str, str]:
        if "InstanceId" in dimensions:
            raise ValueError(
                "metric.dimensions must not name InstanceId: each instance's own InstanceId is found by "
                "discovery, and a fixed one would pin the selection to that instance (or find nothing); "
                "remove InstanceId from metric.dimensions")
        return dimensions

    @field_validator("stat")
    @classmethod
    def _statistic(cls, stat: str) -> str:
        if stat not in PLAIN_STATISTICS and not _EXTENDED_STATISTIC.fullmatch(stat):
            raise ValueError(
                f"metric.stat {stat!r} is not a statistic GetMetricData accepts (case-sensitive): use one of "
                f"{', '.join(PLAIN_STATISTICS)}, a percentile such as p99 or p99.9, or an extended statistic "
                "(tm90, TM(10%:90%), wm90, tc90, ts90, PR(:300), IQM)")
        for bound in re.findall(r"(\d+(?:\.\d+)?)%", stat):
            if float(bound) > 100:
                raise ValueError(f"metric.stat {stat!r}: a percentage bound must be at most 100%")
        return stat

    @model_validator(mode="after")
    def _m_of_n(self) -> MetricSpec:
        if self.breaching_datapoints > self.evaluation_datapoints:
            raise ValueError(
                "metric.breaching_datapoints must be <= metric.evaluation_datapoints "
                f"(got {self.breaching_datapoints} of {self.evaluation_datapoints})"
            )
        return self

    @model_validator(mode="after")
    def _period_fits_resolution(self) -> MetricSpec:
        """Only the periods GetMetricData can serve for this metric (MetricStat, Period): for standard
        resolution a multiple of 60; for high resolution also 1, 5, 10, 20 or 30.
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html
        """
        period = self.period_seconds
        if period >= 60:
            if period % 60:
                raise ValueError(f"metric.period_seconds {period} is not a multiple of 60: GetMetricData "
                                 "periods of a minute or more must be; use e.g. "
                                 f"{max(60, period // 60 * 60)}")
        elif self.resolution_seconds == 60:
            raise ValueError(
                f"metric.period_seconds {period} is below 60 s, but metric.resolution_seconds is 60 (standard "
                "resolution: one datapoint a minute, so most periods would be empty); set metric.period_seconds "
                "to 60 or a multiple of 60, or publish the metric at high resolution (CloudWatch agent "
                "metrics_collection_interval below 60) and set metric.resolution_seconds to 1"
            )
        elif period not in SUB_MINUTE_PERIODS:
            raise ValueError(f"metric.period_seconds {period} is not a period GetMetricData serves: below 60 s "
                             f"it must be one of {', '.join(map(str, SUB_MINUTE_PERIODS))}")
        return self


# Settings a group declaration may still carry from an earlier release, and what to do instead.
_REMOVED_DRAIN_FIELDS = {
    "metric_namespace": "it belonged to the removed connections_metric signal; delete it",
    "metric_name": "it belonged to the removed connections_metric signal; delete it",
    "metric_period_seconds": "it belonged to the removed connections_metric signal; delete it",
    "idle_at_most": "it belonged to the removed connections_metric signal; delete it",
    "ports": "the ssm signal now counts connections on the ports each target is registered on "
             "(recorded at deregistration from DescribeTargetHealth); delete drain.ports",
}


class DrainSpec(_Strict):
    """How the drain wait may end before the deregistration delay runs out."""

    # ssm: a Run Command counts established connections from non-loopback peers on the ports the instance
    #   is registered on in its target groups; target_state: wait for the delay (nothing ends it early).
    signal: Literal["target_state", "ssm"] = "target_state"
    poll_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    # No early end before this many seconds, whatever the signal says.
    floor_seconds: Annotated[int, Field(ge=0, le=300)] = 5
    # Consecutive idle readings (distinct command outputs) that prove nothing is in flight.
    quiet_checks: Annotated[int, Field(ge=1, le=20)] = 2
    margin_seconds: Annotated[int, Field(ge=0, le=600)] = 15

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if data.get("signal") == "connections_metric":
            raise ValueError(
                "drain.signal: 'connections_metric' was removed: the CloudWatch agent's netstat_tcp_established "
                "counts every connection on the host (the SSM and CloudWatch agents, SSH, database pools), so it "
                "never reaches 0 and could never end a drain; use 'ssm' (counts the load balancer's connections "
                "on the registered ports) or 'target_state'"
            )
        stale = [f"drain.{key}: {why}" for key, why in _REMOVED_DRAIN_FIELDS.items() if key in data]
        if stale:
            raise ValueError("; ".join(stale))
        return data


class BootSpec(_Strict):
    """How we prove a reboot really happened and the instance is back."""

    # ssm: the instance's boot time (from /proc/stat btime) must be newer than the reboot request.
    # none: no boot signal, wait at least min_wait_seconds (what the seed did with a fixed sleep).
    signal: Literal["ssm", "none"] = "ssm"
    poll_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    min_wait_seconds: Annotated[int, Field(ge=0, le=1800)] = 120
    deadline_seconds: Annotated[int, Field(ge=60, le=3600)] = 900


class HealthSpec(_Strict):
    poll_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    deadline_seconds: Annotated[int, Field(ge=30, le=3600)] = 600


class StormSpec(_Strict):
    """Too many remediations or failures in a window: pause the group until a person resumes it."""

    # A count, or "N%" of the group's registered instances (rounded down, at least 1): with max_in_flight above
    # 1 the breaker must scale with the group, or healing many at once trips it.
    max_remediations: int | str = 3
    max_failures: Annotated[int, Field(ge=1)] = 2
    window_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] = 6 * 3600


    @field_validator("max_remediations")
    @classmethod
    def _max_remediations(cls, value: int | str) -> int | str:
        from steps.domain.in_flight import parse_share

        parse_share(value, "blockers.storm.max_remediations")
        return value


class BlockerSpec(_Strict):
    """The settings of the blockers (steps/domain/blockers/): checks that keep an instance in service."""

    storm: StormSpec = Field(default_factory=StormSpec)
    # No second reboot of the same instance within this long.
    instance_cooldown_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 6 * 3600
    # Minimum gap between two remediations of the group (0: none).
    group_min_gap_seconds: Annotated[int, Field(ge=0, le=86400)] = 0
    # Any of these CloudWatch alarms in ALARM blocks remediation (e.g. a deploy or an incident alarm).
    blocking_alarms: list[str] = Field(default_factory=list)
    # Remediate only inside these UTC windows, e.g. "Mon-Fri 01:00-05:00" or "daily 00:00-24:00"; empty: always.
    maintenance_windows: list[str] = Field(default_factory=list)
    exclude_tag: str = "nightshift:exclude"

    @field_validator("maintenance_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        from steps.domain.window import parse_window

        for text in value:
            parse_window(text)  # raises ValueError naming the problem
        return value


class AutoScalingSpec(_Strict):
    """How Nightshift treats instances that belong to an Auto Scaling group (looked up per instance)."""

    # Off: never call Auto Scaling (instances outside any ASG, or an account that forbids the calls).
    enabled: bool = True
    # A scaling activity or an instance refresh in progress in the instance's ASG blocks remediation.
    block_on_activity: bool = True


RungAction = Literal["stop_start", "replace", "leave_out"]


class RungSpec(_Strict):
    """One rung of the escalation ladder, tried when the reboot (or the rung before) did not heal."""

    # stop_start: stop and start the instance (a new host; EBS-backed instances only, the public IP
    #   changes unless it is an Elastic IP, instance-store data is lost).
    # replace: mark it Unhealthy in its Auto Scaling group, which terminates and replaces it.
    # leave_out: leave it out of service for a person (only while capacity allows), and notify.
    action: RungAction
    deadline_seconds: Annotated[int, Field(ge=60, le=7200)] = 900


def _each_once(names: Sequence[str], what: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} may appear once; repeated: {', '.join(repeated)}")


def _default_rungs() -> list[RungSpec]:
    return [RungSpec(action="stop_start", deadline_seconds=900), RungSpec(action="replace", deadline_seconds=1200),
            RungSpec(action="leave_out", deadline_seconds=300)]


class EscalationSpec(_Strict):
    """What happens when a reboot does not bring the instance back healthy (or it was rebooted too often)."""

    # Empty: no ladder; a failed verification puts the instance back and fails (pages).
    rungs: list[RungSpec] = Field(default_factory=_default_rungs)
    # After this many reboots of one instance in 24 h, skip the reboot and go straight to the ladder.
    max_reboots_per_day: Annotated[int, Field(ge=1, le=48)] = 3

    @field_validator("rungs")
    @classmethod
    def _rungs(cls, value: list[RungSpec]) -> list[RungSpec]:
        actions = [r.action for r in value]
        _each_once(actions, "each rung action")
        if "leave_out" in actions and actions[-1] != "leave_out":
            raise ValueError("leave_out ends the ladder: put it last (nothing runs after it)")
        return value


Criterion = Literal["metric", "unhealthy_target", "status_check", "silent"]


class SelectSpec(_Strict):
    """One way an instance can be chosen (steps/domain/criteria.py). ``for_seconds`` is the criterion's own
    hysteresis: how long the failure must have lasted (not used by ``metric``, whose hysteresis is the metric's
    M of the last N datapoints)."""

    criterion: Criterion
    for_seconds: Annotated[int, Field(ge=0, le=86400)] = 300


def _default_select() -> list[SelectSpec]:
    return [SelectSpec(criterion="metric")]


class GroupConfig(_Strict):
    """A set of target groups that share instances: one remediation at a time per group."""

    name: str
    target_group_arns: Annotated[list[str], Field(min_length=1)]
    metric: MetricSpec = Field(default_factory=MetricSpec)
    min_healthy: Annotated[int, Field(ge=0)] = 1
    min_healthy_percent: Annotated[float, Field(ge=0, le=100)] = 50.0
    # The floor is at least one healthy target in every target group; true lets min_healthy 0 with
    # min_healthy_percent 0 take the last healthy one out (say so explicitly, or it is refused).
    allow_zero_healthy: bool = False
    per_az: bool = False
    drain: DrainSpec = Field(default_factory=DrainSpec)
    boot: BootSpec = Field(default_factory=BootSpec)
    health: HealthSpec = Field(default_factory=HealthSpec)
    # The key was `guards` until issue 15; still accepted, with a warning (_deprecated_guards).
    blockers: BlockerSpec = Field(default_factory=BlockerSpec, validation_alias=AliasChoices("blockers", "guards"))
    auto_scaling: AutoScalingSpec = Field(default_factory=AutoScalingSpec)
    escalation: EscalationSpec = Field(default_factory=EscalationSpec)
    lock_lease_seconds: Annotated[int, Field(ge=300, le=86400)] = 7200
    # How many remediations of the group may run at once: a count, or "N%" of its registered instances (rounded
    # down, at least 1); optionally also per Availability Zone (docs/design.md "Several at once").
    max_in_flight: int | str = 1
    max_in_flight_per_az: int | str | None = None
    # An alarm's remediation that finds every slot held waits this long for one (polling every 60 s), then
    # gives up audited SKIPPED_LOCKED: an alarm fires once, so skipping at once would lose it. 0: skip at once.
    alarm_queue_seconds: Annotated[int, Field(ge=0, le=6 * 3600)] = 3600
    # How instances are chosen: the metric (default) and/or already-failing ones (unhealthy_target,
    # status_check, silent); a failing instance is always chosen before a merely leaking one.
    select: Annotated[list[SelectSpec], Field(min_length=1)] = Field(default_factory=_default_select)

    @field_validator("select")
    @classmethod
    def _select(cls, value: list[SelectSpec]) -> list[SelectSpec]:
        _each_once([s.criterion for s in value], "each select criterion")
        return value

    @model_validator(mode="after")
    def _select_hysteresis(self) -> GroupConfig:
        for index, spec in enumerate(self.select):
            if spec.criterion == "metric" and "for_seconds" in spec.model_fields_set:
                raise ValueError(
                    f"select[{index}]: the metric criterion has no for_seconds (it would be ignored): its hysteresis "
                    "is metric.breaching_datapoints of metric.evaluation_datapoints; remove for_seconds")
            if spec.criterion == "silent" and spec.for_seconds < self.metric.period_seconds:
                # A datapoint is stamped with its period's start: in the last T < period seconds nobody has one,
                # so nobody "reports" and nobody is ever silent.
                raise ValueError(
                    f"select: silent for_seconds {spec.for_seconds} would never find a silent instance: it must be at "
                    f"least metric.period_seconds ({self.metric.period_seconds}), one datapoint's period; raise it")
        return self

    def selects(self, criterion: str) -> SelectSpec | None:
        """The group's spec for ``criterion``, or None when the group does not select by it."""
        return next((s for s in self.select if s.criterion == criterion), None)

    @model_validator(mode="before")
    @classmethod
    def _deprecated_guards(cls, data: object) -> object:
        if isinstance(data, dict) and "guards" in data:
            if "blockers" in data:
                raise ValueError("guards: the old name of blockers; both are given: move the settings under "
                                 "blockers and remove guards")
            logging.getLogger("nightshift.config").warning(
                "group %r: the key 'guards' is deprecated, rename it 'blockers' (same settings)", data.get("name"))
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not GROUP_NAME.match(value):
            raise ValueError("group name must be 1-64 characters of letters, digits, '_', '.', '-'")
        return value

    @field_validator("target_group_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not TARGET_GROUP_ARN.match(arn):
                raise ValueError(f"not a target group ARN: {arn!r}")
        if len(set(value)) != len(value):
            raise ValueError("target_group_arns lists the same target group twice")
        return value

    @field_validator("max_in_flight", "max_in_flight_per_az")
    @classmethod
    def _share(cls, value: int | str | None, info: ValidationInfo) -> int | str | None:
        from steps.domain.in_flight import parse_share

        if value is not None:
            parse_share(value, str(info.field_name))
        return value

    @property
    def in_flight(self) -> Share:
        from steps.domain.in_flight import parse_share

        return parse_share(self.max_in_flight, "max_in_flight")

    @property
    def in_flight_per_az(self) -> Share | None:
        from steps.domain.in_flight import parse_share

        if self.max_in_flight_per_az is None:
            return None
        return parse_share(self.max_in_flight_per_az, "max_in_flight_per_az")

    @model_validator(mode="after")
    def _floor_of_one(self) -> GroupConfig:
        if self.min_healthy == 0 and self.min_healthy_percent == 0 and not self.allow_zero_healthy:
            raise ValueError(
                f"group {self.name!r}: min_healthy 0 with min_healthy_percent 0 lets a remediation take out the "
                "last healthy target of a target group; set min_healthy to at least 1 (or min_healthy_percent "
                "above 0), or set allow_zero_healthy: true if zero healthy targets is acceptable")
        return self

    @property
    def floor(self) -> int:
        """The min_healthy the capacity checks use: at least 1 unless allow_zero_healthy says otherwise."""
        return self.min_healthy if self.allow_zero_healthy else max(1, self.min_healthy)

    @model_validator(mode="after")
    def _history_fits(self) -> GroupConfig:
        """Step Functions fails an execution at 25,000 history events, with no Catch: refuse a group whose
        poll intervals and deadlines could get there (steps/domain/history.py counts the worst case)."""
        from steps.domain.history import worst_case_events

        bound = worst_case_events(self)
        if not bound.ok:
            raise ValueError(
                f"group {self.name!r}: a remediation could write {bound.events} Step Functions history events, "
                f"over the budget of {bound.budget} ({bound.budget * 100 // bound.limit} % of the {bound.limit} "
                f"quota) by {bound.over_by}; the {bound.loops[0][0]} dominates ({bound.loops[0][1]} events): "
                f"{bound.fix}")
        return self


    @model_validator(mode="after")
    def _lease_covers_renewals(self) -> GroupConfig:
        """The group lease must outlast the longest time between two renewals (steps/domain/lease.py)."""
        from steps.domain.lease import MARGIN_SECONDS, required_lease

        need = required_lease(self)
        if self.lock_lease_seconds < need.seconds:
            raise ValueError(
                f"group {self.name!r}: lock_lease_seconds {self.lock_lease_seconds} is shorter than the longest "
                f"time between two renewals of the group lease ({need.interval}) plus a {MARGIN_SECONDS} s margin; "
                f"another remediation could take the group meanwhile: set lock_lease_seconds to at least "
                f"{need.seconds} (or remove it: the default is 7200)")
        return self


class AccountSpec(_Strict):
    """Limits across every group of the account (docs/design.md "Several at once"): at most ``max_in_flight``
    instances out of service for remediation at once, and at most ``max_per_hour`` remediations started (instances
    let out of service) in any hour. None: no limit."""

    max_in_flight: Annotated[int, Field(ge=1)] | None = None
    max_per_hour: Annotated[int, Field(ge=1)] | None = None

    @property
    def limited(self) -> bool:
        return self.max_in_flight is not None or self.max_per_hour is not None


class GroupsDocument(_Strict):
    groups: Annotated[list[GroupConfig], Field(min_length=1)]
    account: AccountSpec = Field(default_factory=AccountSpec)

    @model_validator(mode="after")
    def _unique(self) -> GroupsDocument:
        names = [g.name for g in self.groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"group names must be unique; repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _no_overlap(self) -> GroupsDocument:
        """Two groups over one target group would remediate the same instances under two group leases."""
        owner: dict[str, str] = {}
        for g in self.groups:
            for arn in g.target_group_arns:
                if arn in owner and owner[arn] != g.name:
                    raise ValueError(
                        f"groups {owner[arn]!r} and {g.name!r} both list {arn} in target_group_arns: two groups "
                        "over one target group could remediate the same instance at once; put each target group "
                        "in one group only (merge the two groups, or remove it from one of them)")
                owner[arn] = g.name
        return self

    @cached_property
    def by_name(self) -> dict[str, GroupConfig]:
        return {g.name: g for g in self.groups}

    def group(self, name: str) -> GroupConfig:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise ConfigurationError(
                f"group: unknown group {name!r}; declared groups are: {known}"
            ) from None


def parse_groups(raw: str | bytes | dict[str, object]) -> GroupsDocument:
    """Validate a groups declaration; the error names the offending field and what to do."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"groups declaration is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:  # bytes that are not UTF-8/16/32 text: json.loads's own error is not ours
        raise ConfigurationError(f"groups declaration is not text: {exc.reason} at byte {exc.start}; "
                                 "save it as UTF-8 JSON") from exc
    return validate_groups(data)


def validate_groups(data: object) -> GroupsDocument:
    """Validate a decoded groups declaration (any JSON value)."""
    try:
        return GroupsDocument.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"groups declaration is invalid: {problems}") from exc


class Settings(_Strict):
    """The environment a container's steps run in, read once at start-up (``steps.core.container``). The SAM
    template sets these variables on every function; the local runtime and tests configure their own."""

    lock_table: str = "nightshift-locks"  # NIGHTSHIFT_LOCK_TABLE
    audit_table: str = "nightshift-audit"  # NIGHTSHIFT_AUDIT_TABLE
    lifecycle_table: str = "nightshift-remediations"  # NIGHTSHIFT_LIFECYCLE_TABLE
    region: str = "us-east-1"  # AWS_REGION (set by Lambda), else AWS_DEFAULT_REGION
    groups_parameter: str | None = None  # NIGHTSHIFT_GROUPS_PARAMETER: the SSM parameter holding the groups
    groups_inline: str | None = None  # NIGHTSHIFT_GROUPS: the groups as JSON (tests)
    remediate_state_machine_arn: str | None = None  # NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN: the alarm trigger's
    drain_state_machine_arn: str | None = None  # NIGHTSHIFT_DRAIN_STATE_MACHINE_ARN: the termination trigger's
    topic_arn: str | None = None  # NIGHTSHIFT_TOPIC_ARN: notifications by SNS, when set
    event_bus: str | None = None  # NIGHTSHIFT_EVENT_BUS: notifications by EventBridge, when set
    alarm_name_prefix: str | None = None  # NIGHTSHIFT_ALARM_NAME_PREFIX: the alarm trigger acts on these alarms only

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        variables = {"lock_table": "NIGHTSHIFT_LOCK_TABLE", "audit_table": "NIGHTSHIFT_AUDIT_TABLE",
                     "lifecycle_table": "NIGHTSHIFT_LIFECYCLE_TABLE", "groups_parameter": "NIGHTSHIFT_GROUPS_PARAMETER",
                     "groups_inline": "NIGHTSHIFT_GROUPS",
                     "remediate_state_machine_arn": "NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN",
                     "drain_state_machine_arn": "NIGHTSHIFT_DRAIN_STATE_MACHINE_ARN",
                     "topic_arn": "NIGHTSHIFT_TOPIC_ARN", "event_bus": "NIGHTSHIFT_EVENT_BUS",
                     "alarm_name_prefix": "NIGHTSHIFT_ALARM_NAME_PREFIX"}
        found = {field: env.get(variable) for field, variable in variables.items()}
        found["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        return cls(**{field: value for field, value in found.items() if value})

    def groups_source(self) -> tuple[str, str]:
        """("inline", JSON) or ("parameter", name): where the groups declaration is read from."""
        if self.groups_inline:
            return "inline", self.groups_inline
        if self.groups_parameter:
            return "parameter", self.groups_parameter
        raise ConfigurationError(
            "environment: set NIGHTSHIFT_GROUPS_PARAMETER (an SSM parameter name) or NIGHTSHIFT_GROUPS (JSON)")

    def state_machine_arn(self) -> str:
        if not self.remediate_state_machine_arn:
            raise ConfigurationError("environment: NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN not set; the SAM template "
                                     "(or the local runtime) sets it")
        return self.remediate_state_machine_arn

    def drain_machine_arn(self) -> str:
        if not self.drain_state_machine_arn:
            raise ConfigurationError("environment: NIGHTSHIFT_DRAIN_STATE_MACHINE_ARN not set; the SAM template "
                                     "(or the local runtime) sets it")
        return self.drain_state_machine_arn
