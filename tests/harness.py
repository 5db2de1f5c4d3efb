"""The test harness: the real remediate.asl.json in moto against a simulated fleet (shared by workflow and faults)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSimulator, FleetSpec, InstanceSpec
from nightshift.sim.spec import AutoScalingSpec
from steps.store import audit, lock

LEAKER = 5


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
    from nightshift.functions import BY_NAME

    return dict(BY_NAME[f"nightshift-{function}"].handler()({"execution_id": execution_id, "state": state}, None))


def crash_mid_drain(h: Harness) -> dict[str, Any]:
    """An execution took the lock, deregistered the leaker, then vanished (never restored)."""
    from nightshift.functions import BY_NAME

    state: dict[str, Any] = BY_NAME["nightshift-validate-request"].handler()(
        {"execution_id": CRASHED, "execution_name": "crashed-mid-drain", "input": {"group": "web"}}, None)
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


def open_harness(spec: FleetSpec | None = None, **group_overrides: Any) -> Harness:
    """A started runtime with one fleet (by default: the leaker at 85 %) and its group declared; the caller
    closes ``harness.rt`` (``rt.__exit__``) before opening another (moto's state is process-wide)."""
    logs = io.StringIO()
    rt = LocalRuntime(log_stream=logs).__enter__()
    try:
        sim, built = rt.add_fleet(spec or FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}))
        group = group_for(built, **group_overrides)
        rt.declare_groups([group])
    except BaseException:
        rt.__exit__(None, None, None)
        raise
    return Harness(rt, sim, built, logs, group)


@pytest.fixture
def harness() -> Iterator[MakeHarness]:
    runtimes: list[LocalRuntime] = []

    def make(spec: FleetSpec | None = None, **group_overrides: Any) -> Harness:
        h = open_harness(spec, **group_overrides)
        runtimes.append(h.rt)
        return h

    yield make
    for rt in runtimes:
        rt.__exit__(None, None, None)


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
    saved = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # moto parses ~1300 AMIs per backend; the fleet needs none
    rt = LocalRuntime(log_stream=io.StringIO(), provision=False).__enter__()
    try:
        rt._create_tables()  # the lock table also holds claims and the reconciler's progress
        sim, built = rt.add_fleet(spec or FleetSpec(size=6, leaking={}, metric_history_seconds=60))
        rt.declare_groups([group_for(built, min_healthy=1)])
        yield Direct(rt, sim, built)
    finally:
        rt.__exit__(None, None, None)
        if saved is None:
            os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
        else:
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = saved


@pytest.fixture
def direct() -> Iterator[Direct]:
    with direct_session() as made:
        yield made


ASG_FLEET = FleetSpec(size=6, leaking={}, metric_history_seconds=60, auto_scaling=AutoScalingSpec(min_size=1))


@pytest.fixture
def direct_asg() -> Iterator[Direct]:
    """``direct`` with the fleet as one Auto Scaling group (MinSize 1, so Standby decrements)."""
    with direct_session(ASG_FLEET) as made:
        yield made
