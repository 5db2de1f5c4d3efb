"""The one test harness: every test that needs a runtime and a fleet builds them here.

``fleet_runtime`` is the one builder; what differs between tests is an option:

* ``state_machines=True`` (``harness``, workflow and fault tests): the real ASL in moto's Step Functions
  engine, the tables, the SNS topic.
* ``state_machines=False`` (``direct``, ``direct_asg``, tests/mutation_fast, which runs once per mutant): the
  three tables only, no state machine (so DescribeExecution finds no execution) and moto without its ~1300
  default AMIs: about a second less per test.
* the fleet's ``FleetSpec`` (an Auto Scaling group or not, the leaker, timings), and the group declared:
  ``group_for`` with overrides by default, or any function of the built fleet.

``runtime`` is a bare runtime for tests that add several fleets themselves; ``simulated_world`` is the
simulator alone behind real boto3 clients (tests/sim: no runtime, no tables). Handlers called directly go
through ``invoke``, which passes a Lambda context as the local runtime's Lambda router does. The fixtures
built from these live in tests/fixtures.py (a pytest plugin registered in tests/conftest.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nightshift.functions import BY_NAME, STEP_FUNCTIONS, Handler
from nightshift.runtime.clock import VirtualClock
from nightshift.runtime.interceptor import Interceptor
from nightshift.runtime.lambda_router import LambdaContext
from nightshift.runtime.runner import ACCOUNT, LocalRuntime
from nightshift.sim import BuiltFleet, FleetSimulator, FleetSpec, InstanceSpec
from nightshift.sim.spec import AutoScalingSpec
from steps.aws.ssm import connections_script
from steps.store import audit, lock

LEAKER = 5
REGION = "us-east-1"


# -- Handlers called directly, the way Lambda calls them ----------------------------------------------------

def lambda_context(function_name: str) -> LambdaContext:
    """The context the local runtime's Lambda router passes (nightshift/runtime/lambda_router.py)."""
    return LambdaContext(function_name,
                         invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}")


def _function_name(handler: Handler) -> str:
    module = getattr(handler, "__module__", "")
    for function in STEP_FUNCTIONS:
        if module == f"steps.{function.module}":
            return f"nightshift-{function.name}"
    return f"nightshift-{getattr(handler, '__name__', 'handler')}"


def invoke(handler: Handler | str, event: dict[str, Any]) -> Any:
    """Call one step's handler with ``event`` and a Lambda context, as Lambda does. ``handler``: the handler
    itself (``reconcile.handler``) or the function's name (``"reconcile"`` or ``"nightshift-reconcile"``)."""
    if isinstance(handler, str):
        name = handler if handler.startswith("nightshift-") else f"nightshift-{handler}"
        return BY_NAME[name].handler()(event, lambda_context(name))
    return handler(event, lambda_context(_function_name(handler)))


@dataclass
class Harness:
    rt: LocalRuntime
    sim: FleetSimulator
    built: Any
    logs: io.StringIO
    group: dict[str, Any] = field(default_factory=dict)

    @property
    def leaker(self) -> str:
        return str(self.built.instance_ids[LEAKER])

    def run(self, **request: Any) -> dict[str, Any]:
        return self.rt.run({"group": "web", **request})

    def audit_events(self) -> list[str]:
        return [r.event for r in audit.for_group("web")]

    def audit_records(self) -> list[dict[str, Any]]:
        return [audit.as_dict(r) for r in audit.for_group("web")]

    def lock_held(self) -> bool:
        return lock.holder("web") is not None

    def in_service_everywhere(self, instance_id: str) -> bool:
        """Registered (not draining, not gone) in every target group."""
        return all(self.sim.target_state(instance_id, tg) in {"healthy", "initial"}
                   for tg in self.built.target_group_arns)


def early_in_a_utc_day(rt: LocalRuntime, hour: int = 1) -> None:
    """Move the virtual clock (it starts at the real time) to ``hour``:00 UTC of the next day, so a test of a
    once-a-day notice over a few sweeps never crosses midnight, whenever it runs."""
    now = float(rt.clock.now())
    rt.clock.advance(86400 - now % 86400 + hour * 3600)


def fail_first_audit(monkeypatch: pytest.MonkeyPatch, module: Any, event: str, error: BaseException) -> list[str]:
    """Make ``module``'s first audit write of ``event`` raise ``error`` (the write never happened); the list
    it returns holds the event once that fault has fired."""
    real = module.audit.record
    fired: list[str] = []

    def fail_once(entry: Any) -> Any:
        if entry.event == event and not fired:
            fired.append(entry.event)
            raise error
        return real(entry)

    monkeypatch.setattr(module.audit, "record", fail_once)
    return fired


def fail_first_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, error: BaseException) -> list[Any]:
    """Make the first call of ``owner.name`` raise ``error`` (it never reached AWS); later calls go through.
    Returns the first argument of every call, in order."""
    real = getattr(owner, name)
    calls: list[Any] = []

    def first_fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, first_fails)
    return calls


def group_for(built: Any, **overrides: Any) -> dict[str, Any]:
    group: dict[str, Any] = built.group_declaration()
    group.update({"metric": {"threshold": 65.0, "breaching_datapoints": 3, "evaluation_datapoints": 5},
                  "min_healthy": 2, "min_healthy_percent": 50,
                  "drain": {"signal": "ssm", "poll_seconds": 10, "quiet_checks": 2},
                  "boot": {"signal": "ssm"}})
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(group.get(key), dict):
            group[key] = {**group[key], **value}
        else:
            group[key] = value
    return group


CRASHED = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:crashed-mid-drain"


def call_step(function: str, state: dict[str, Any], execution_id: str = CRASHED) -> dict[str, Any]:
    """One step's handler, called directly with the state document (no state machine)."""
    return dict(invoke(function, {"execution_id": execution_id, "state": state}))


def crash_mid_drain(h: Harness) -> dict[str, Any]:
    """An execution took the lock, deregistered the leaker, then vanished (never restored)."""
    state: dict[str, Any] = invoke(
        "validate-request", {"execution_id": CRASHED, "execution_name": "crashed-mid-drain", "input": {"group": "web"}})
    state["lock"] = call_step("acquire-group-lock", state)
    state["selection"] = call_step("select-worst-instance", state)
    call_step("deregister-instance", state)
    assert all(h.sim.target_state(h.leaker, tg) == "draining" for tg in h.built.target_group_arns)
    # It vanished a while ago: an owner DescribeExecution cannot find counts as dead only once its lock is older
    # than the eventual-consistency grace (steps/store/lock.py).
    from steps.store.lock import MISSING_OWNER_GRACE_SECONDS

    h.rt.clock.advance(MISSING_OWNER_GRACE_SECONDS)
    return state


MakeHarness = Callable[..., Harness]
GroupOf = Callable[[Any], dict[str, Any]]

DEFAULT_SPEC = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)})
DIRECT_SPEC = FleetSpec(size=6, leaking={}, metric_history_seconds=60)  # no metric history: direct calls read none


def open_runtime(*, state_machines: bool = True, log_stream: io.StringIO | None = None,
                 clock: VirtualClock | None = None) -> LocalRuntime:
    """A started runtime without a fleet; the caller closes it (``rt.__exit__``). ``state_machines=False``:
    the tables only, and moto without its default AMIs (it parses ~1300 per EC2 backend; a simulated fleet
    needs none)."""
    stream = log_stream if log_stream is not None else io.StringIO()
    if state_machines:
        return LocalRuntime(log_stream=stream, clock=clock).__enter__()
    saved = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    rt = LocalRuntime(log_stream=stream, clock=clock, provision=False)
    try:
        rt.__enter__()
    except BaseException:
        _restore_amis(saved)
        raise
    rt._saved_env.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", saved)  # rt.__exit__ restores it
    try:
        rt._create_tables()  # the lock table also holds claims and the reconciler's progress
    except BaseException:
        rt.__exit__(None, None, None)
        raise
    return rt


def _restore_amis(saved: str | None) -> None:
    if saved is None:
        os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
    else:
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = saved


@contextmanager
def runtime(*, state_machines: bool = True, log_stream: io.StringIO | None = None,
            clock: VirtualClock | None = None) -> Iterator[LocalRuntime]:
    """``open_runtime`` as a context manager."""
    rt = open_runtime(state_machines=state_machines, log_stream=log_stream, clock=clock)
    try:
        yield rt
    finally:
        rt.__exit__(None, None, None)


def open_harness(spec: FleetSpec | None = None, *, state_machines: bool = True, group: GroupOf | None = None,
                 **group_overrides: Any) -> Harness:
    """The one builder: a started runtime with one fleet (by default: the leaker at 85 %, or for
    ``state_machines=False`` six quiet instances) and its group declared (``group(built)`` if given, else
    ``group_for(built, **group_overrides)``). The caller closes ``harness.rt`` (``rt.__exit__``) before
    opening another (moto's state is process-wide)."""
    logs = io.StringIO()
    rt = open_runtime(state_machines=state_machines, log_stream=logs)
    try:
        sim, built = rt.add_fleet(spec or (DEFAULT_SPEC if state_machines else DIRECT_SPEC))
        declared = group(built) if group is not None else group_for(built, **group_overrides)
        rt.declare_groups([declared])
    except BaseException:
        rt.__exit__(None, None, None)
        raise
    return Harness(rt, sim, built, logs, declared)


@contextmanager
def fleet_runtime(spec: FleetSpec | None = None, *, state_machines: bool = True, group: GroupOf | None = None,
                  **group_overrides: Any) -> Iterator[Harness]:
    """``open_harness`` as a context manager."""
    h = open_harness(spec, state_machines=state_machines, group=group, **group_overrides)
    try:
        yield h
    finally:
        h.rt.__exit__(None, None, None)


# -- Handlers and store functions called directly, without state machines (fast enough for `make mutation`) --

DIRECT_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:direct-1"
MUTATING = ("Register", "Deregister", "Reboot", "Start", "Stop", "Enter", "Exit", "Set", "Terminate")


@dataclass
class Direct:
    """In-process moto with the three tables, a small simulated fleet and its group declared; no state
    machine, so DescribeExecution finds no execution (an owner that no longer runs)."""

    rt: LocalRuntime
    sim: FleetSimulator
    built: Any

    @property
    def instance(self) -> str:
        return str(self.built.instance_ids[0])

    @property
    def tgs(self) -> list[str]:
        return list(self.built.target_group_arns)

    def now(self) -> float:
        return float(self.rt.clock.now())

    def mark(self) -> int:
        return len(self.rt.api_calls())

    def changes_since(self, mark: int) -> list[tuple[str, dict[str, Any]]]:
        """The mutating EC2 / ELB / Auto Scaling requests AWS accepted since ``mark``, with their parameters."""
        return [(c.operation, c.params) for c in self.rt.api_calls()[mark:]
                if c.service != "dynamodb" and c.operation.startswith(MUTATING) and c.accepted]

    def take_out(self, remediation_id: str = "direct-1", execution: str = DIRECT_EXECUTION,
                 standby: dict[str, Any] | None = None, deregister: bool = True, state: str = "draining",
                 **facts: Any) -> Any:
        """A remediation that selected the fleet's first instance and deregistered it (write-ahead record
        first, as the deregister step does); ``state``, ``facts``: where later steps left it."""
        from steps.store import lifecycle

        now = self.now()
        record = lifecycle.open_record(remediation_id, "web", "manual", execution, now)
        lifecycle.advance(record, "select", {"instance_id": self.instance}, now, execution, instance_id=self.instance)
        ports = zip(self.tgs, (443, 8080), strict=True)  # FleetSpec.target_ports
        planned = {"instance_id": self.instance, "at": now, "delay_seconds": 300, "standby": standby,
                   "target_groups": [{"arn": arn, "port": port} for arn, port in ports]}
        lifecycle.advance(record, "deregister", planned, now, execution)
        if deregister:
            elb = self.rt.client("elbv2")
            for target in planned["target_groups"]:
                elb.deregister_targets(TargetGroupArn=target["arn"],
                                       Targets=[{"Id": self.instance, "Port": target["port"]}])
        if facts or state != "draining":
            record.facts = {**record.facts, **facts}
            record.state = state  # as if the steps in between had run (their facts given)
            record.save()
        return record

    def register_requests(self) -> list[tuple[str, dict[str, Any]]]:
        """What putting the instance back must send: RegisterTargets in each target group on its port."""
        return [("RegisterTargets", {"TargetGroupArn": tg, "Targets": [{"Id": self.instance, "Port": port}]})
                for tg, port in zip(self.tgs, (443, 8080), strict=True)]

    def enter_standby(self) -> dict[str, Any]:
        """Standby as the deregister step plans and sends it (an Auto Scaling fleet); the plan."""
        from steps.remediate import standby

        plan = standby.enter_standby(self.instance)
        assert plan is not None
        standby.send_standby(self.instance, plan, fresh=True)
        return plan

    def out_of_service(self) -> bool:
        return all(self.sim.target_state(self.instance, tg) in {"draining", "unused", None} for tg in self.tgs)

    def in_service(self) -> bool:
        return all(self.sim.target_state(self.instance, tg) in {"initial", "healthy"} for tg in self.tgs)


@contextmanager
def direct_session(spec: FleetSpec | None = None) -> Iterator[Direct]:
    """No metric history by default (the handlers called directly read none)."""
    with fleet_runtime(spec or DIRECT_SPEC, state_machines=False, min_healthy=1) as h:
        yield Direct(h.rt, h.sim, h.built)


ASG_FLEET = FleetSpec(size=6, leaking={}, metric_history_seconds=60, auto_scaling=AutoScalingSpec(min_size=1))


# -- Step handlers called one by one on a runtime with state machines (tests/integration) ----------------------

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:it-1"


def steps_group(built: Any) -> dict[str, Any]:
    """The group tests/integration declares: the fleet's own declaration with SSM drain and boot signals."""
    group: dict[str, Any] = built.group_declaration()
    group.update({"min_healthy": 2, "drain": {"signal": "ssm", "quiet_checks": 2, "poll_seconds": 5},
                  "boot": {"signal": "ssm", "poll_seconds": 10}})
    return group


class Steps:
    """Call step handlers the way the state machine does, carrying the state document along."""

    def __init__(self, rt: LocalRuntime, sim: Any, built: Any) -> None:
        self.rt, self.sim, self.built = rt, sim, built
        self.state: dict[str, Any] = {}
        self.execution_id = EXECUTION

    def call(self, function: str, result_path: str | None = None, **state_overrides: Any) -> dict[str, Any]:
        event = {"execution_id": self.execution_id, "state": {**self.state, **state_overrides}}
        result: dict[str, Any] = invoke(function, event)
        if result_path:
            self.state[result_path] = result
        return result

    def validate(self, **start: Any) -> dict[str, Any]:
        out: dict[str, Any] = invoke("validate-request", {"execution_id": self.execution_id,
                                                          "execution_name": "it-1",
                                                          "input": {"group": "web", **start}})
        self.state = dict(out)
        return out

    @property
    def leaker(self) -> str:
        return str(self.built.instance_ids[5])


@contextmanager
def steps_session() -> Iterator[Steps]:
    with fleet_runtime(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0)}), group=steps_group) as h:
        yield Steps(h.rt, h.sim, h.built)


# -- The simulator alone, seen through real boto3 calls (tests/sim: no runtime, no tables, no state machine) --

# A round epoch (a multiple of 3600) so metric periods line up with build time in assertions.
T0 = 1_700_002_800.0


@dataclass
class World:
    clock: VirtualClock
    sim: FleetSimulator
    fleet: BuiltFleet
    interceptor: Interceptor
    elbv2: Any
    ec2: Any
    ssm: Any
    cloudwatch: Any
    autoscaling: Any

    @property
    def https(self) -> str:
        return self.fleet.target_group_arns[0]

    @property
    def http(self) -> str:
        return self.fleet.target_group_arns[1]

    def instance(self, index: int) -> str:
        return self.fleet.instance_ids[index]

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def health(self, tg_arn: str, *instance_ids: str) -> dict[str, dict[str, Any]]:
        """instance id -> TargetHealth, through a real DescribeTargetHealth call."""
        kwargs: dict[str, Any] = {"TargetGroupArn": tg_arn}
        if instance_ids:
            kwargs["Targets"] = [{"Id": i} for i in instance_ids]
        response = self.elbv2.describe_target_health(**kwargs)
        return {d["Target"]["Id"]: d["TargetHealth"] for d in response["TargetHealthDescriptions"]}

    def state(self, tg_arn: str, instance_id: str) -> str:
        return str(self.health(tg_arn, instance_id)[instance_id]["State"])

    def deregister(self, instance_id: str) -> None:
        for arn in self.fleet.target_group_arns:
            self.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])

    def register(self, instance_id: str) -> None:
        for arn in self.fleet.target_group_arns:
            self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])

    def send(self, instance_id: str, comment: str, timeout: int | None = None) -> str:
        commands = ["true"]
        owner = self.sim.owner_of(instance_id)
        if comment == "nightshift:connections" and owner is not None:
            # the workflow's own script: the simulator evaluates its ss filter
            commands = connections_script(owner[1].service_ports())
        kwargs: dict[str, Any] = {"InstanceIds": [instance_id], "DocumentName": "AWS-RunShellScript",
                                  "Comment": comment, "Parameters": {"commands": commands}}
        if timeout is not None:
            kwargs["TimeoutSeconds"] = timeout
        return str(self.ssm.send_command(**kwargs)["Command"]["CommandId"])

    def invocation(self, command_id: str, instance_id: str) -> dict[str, Any]:
        response: dict[str, Any] = self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        return response

    def ask(self, instance_id: str, comment: str) -> int:
        """Send a command, let it run, and return its integer output."""
        command_id = self.send(instance_id, comment)
        self.advance(self.sim.spec.command_run_seconds)
        result = self.invocation(command_id, instance_id)
        assert result["Status"] == "Success", result
        return int(result["StandardOutputContent"])

    def metric(self, instance_id: str, name: str, seconds_back: float, period: int, stat: str = "Average",
               scan_by: str = "TimestampAscending") -> list[tuple[float, float]]:
        """(epoch, value) datapoints of one agent metric in [now - seconds_back, now], in ``scan_by`` order."""
        end = datetime.fromtimestamp(self.clock.now() + 1, tz=UTC)
        response = self.cloudwatch.get_metric_data(
            MetricDataQueries=[metric_query("q", instance_id, name, period, stat,
                                            self.sim.agent_dimensions(instance_id))],
            StartTime=end - timedelta(seconds=seconds_back + 1), EndTime=end, ScanBy=scan_by,
        )
        result = response["MetricDataResults"][0]
        return [(ts.timestamp(), value) for ts, value in zip(result["Timestamps"], result["Values"], strict=True)]


def metric_query(query_id: str, instance_id: str, name: str, period: int, stat: str = "Average",
                 dimensions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """One agent-metric query; ``dimensions`` is the complete set (default: InstanceId alone). CloudWatch
    matches the exact set, so pass ``sim.agent_dimensions(instance_id)`` to read what the agent publishes."""
    dimensions = dimensions if dimensions is not None else [{"Name": "InstanceId", "Value": instance_id}]
    return {"Id": query_id, "MetricStat": {
        "Metric": {"Namespace": "CWAgent", "MetricName": name, "Dimensions": dimensions},
        "Period": period, "Stat": stat}}


MakeWorld = Callable[..., World]


@contextmanager
def simulated_world(session: boto3.session.Session, spec: FleetSpec | None = None,
                    start: float = T0) -> Iterator[World]:
    """Build a fleet from a FleetSpec inside mock_aws, install it, then create the clients (in that order:
    botocore copies the session's event hooks into a client when the client is created)."""
    with mock_aws():
        clock = VirtualClock(start=start)
        sim = FleetSimulator(spec or FleetSpec(), clock.now)
        fleet = sim.build()
        # Other test packages replace the default session; the clients below must come from this one.
        boto3.DEFAULT_SESSION = session
        interceptor = Interceptor(session.events)
        sim.install(interceptor)
        try:
            yield World(clock, sim, fleet, interceptor, boto3.client("elbv2"), boto3.client("ec2"),
                        boto3.client("ssm"), boto3.client("cloudwatch"), boto3.client("autoscaling"))
        finally:
            interceptor.uninstall()
