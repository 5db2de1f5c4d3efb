"""The fault matrix's parts: the scenarios, the recorded catalogue of calls, the fault kinds, the invariants.

The catalogue (tests/faults/catalogue.json) is what the Lambda Tasks of both state machines call, recorded
at the AWS layer during clean runs of the scenarios below: ``python -m tests.faults.matrix --write``
re-records it; tests/faults/test_fault_matrix.py checks it against the ASL and against a fresh recording.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from nightshift.replay import ReplayRefused, failed_since, replay
from nightshift.runtime.runner import STATEMACHINE_DIR
from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from steps.store import audit, lock
from tests.harness import LEAKER, Harness, crash_mid_drain

CATALOGUE = Path(__file__).with_name("catalogue.json")
MACHINES = ("remediate", "sweep")


# -- the scenarios: together they run every Lambda Task of both machines --------------------------------------

class SetupBug(Exception):
    """Part of a scenario (not the matrix's fault): a step fails once, deterministically, so the restore
    path and then, on replay, the resume step run."""


def _ladder(asg: bool) -> FleetSpec:
    broken = InstanceSpec(leak_to_percent=85.0, app_fails=True, new_host_cures=False)
    return FleetSpec(leaking={LEAKER: broken}, auto_scaling=AutoScalingSpec(min_size=2) if asg else None)


@dataclass(frozen=True)
class Scenario:
    name: str
    # how the leaker ends once everything (replays included) is done: rebooted | replaced | left_out | stop_started
    end: str
    fleet: Callable[[], FleetSpec | None]
    overrides: dict[str, Any]
    run: Callable[[Harness], None]
    # The leaker is out of service by its own fault from the start (an impaired host): before the replays it may
    # stay out as long as Nightshift never took it out (no accepted DeregisterTargets of it).
    failing_from_start: bool = False

    def build(self, make: Callable[..., Harness]) -> Harness:
        return make(self.fleet(), **self.overrides)


def _remediate(h: Harness) -> None:
    h.run(reason="fault matrix")


def _remediate_and_what_it_started(h: Harness) -> None:
    """One start; with max_in_flight above 1 it starts the group's next remediation (the cascade): wait for every
    execution it started too."""
    h.run(reason="fault matrix")
    wait_for_every_execution(h)


def wait_for_every_execution(h: Harness, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while any(e["status"] == "RUNNING" for e in executions(h)):
        if time.monotonic() > deadline:
            raise TimeoutError("remediate executions still running")
        time.sleep(0.02)


def _fail_then_replay(h: Harness) -> None:
    """check-drain fails once with a bug (not retried): the restore path puts the leaker back and the
    execution fails; the operator's replay then resumes the remediation."""
    fired: list[str] = []

    def bug(name: str, *_: Any) -> None:
        if name == "nightshift-check-drain" and not fired:
            fired.append(name)
            raise SetupBug("check-drain: a bug, once (scenario set-up)")

    h.rt.router.before.append(bug)
    h.run(reason="fault matrix: fails once, then replayed")
    operator_replays(h)


def _impaired() -> FleetSpec:
    """The instance at LEAKER's index has a failed system status check (its host) for ten minutes."""
    return FleetSpec(leaking={LEAKER: InstanceSpec(fault="system_impaired", fault_at=-600.0)})


# Every criterion's reads: status checks, the unhealthy-target memory (seen after 30 s), the metric.
CRITERIA = [{"criterion": "status_check", "for_seconds": 300}, {"criterion": "unhealthy_target", "for_seconds": 300},
            {"criterion": "silent", "for_seconds": 300}, {"criterion": "metric"}]


def _after_health_checks(h: Harness) -> None:
    """Its targets have failed their health checks by now (2 x 10 s): the selection remembers them too."""
    h.rt.clock.advance(30)
    h.run(reason="fault matrix: impaired host")


def _sweep(h: Harness) -> None:
    """An execution took the lock and deregistered the leaker, then vanished; the scheduled sweep runs."""
    crash_mid_drain(h)
    h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("reboot", "rebooted", lambda: None, {}, _remediate),
    Scenario("ladder-asg", "replaced", lambda: _ladder(asg=True), {"health": {"deadline_seconds": 120}}, _remediate),
    Scenario("ladder-left-out", "left_out", lambda: _ladder(asg=False), {"health": {"deadline_seconds": 120}},
             _remediate),
    Scenario("restore-resume", "rebooted", lambda: None, {}, _fail_then_replay),
    Scenario("sweep", "rebooted", lambda: None, {}, _sweep),
    # max_in_flight above 1: the slots, the capacity ledger's transaction and the cascade's start of the next
    # remediation (which finds nothing left: one leaker).
    Scenario("reboot-in-flight", "rebooted", lambda: None,
             {"max_in_flight": 2, "blockers": {"storm": {"max_remediations": "50%"}}},
             _remediate_and_what_it_started),
    Scenario("impaired-host", "stop_started", _impaired, {"select": CRITERIA}, _after_health_checks,
             failing_from_start=True),
)}


# -- the catalogue -------------------------------------------------------------------------------------------

def lambda_task_states() -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """Every Lambda Task of both machines, from the ASL, in the order the ASL lists them: function name ->
    (machine, Task state name, Task state) of each Task state that invokes it."""
    from nightshift.functions import STEP_FUNCTIONS

    by_placeholder = {f"${{{f.placeholder}}}": f.name for f in STEP_FUNCTIONS if f.placeholder}
    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    def walk(machine: str, states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state["Type"] == "Task" and state["Resource"].startswith("${"):
                function = by_placeholder.get(state["Resource"])
                if function is None:
                    raise AssertionError(f"{machine}: Task {name!r} invokes {state['Resource']}, not a known step")
                found.setdefault(function, []).append((machine, name, state))
            for branch in state.get("Branches", []):
                walk(machine, branch["States"])
            inner = state.get("ItemProcessor") or state.get("Iterator")
            if inner:
                walk(machine, inner["States"])

    for machine in MACHINES:
        walk(machine, json.loads((STATEMACHINE_DIR / f"{machine}.asl.json").read_text())["States"])
    return found


def lambda_tasks() -> dict[str, list[str]]:
    """Every Lambda Task of both machines, from the ASL: function name -> the Task states that invoke it."""
    return {function: [f"{machine}: {name}" for machine, name, _ in states]
            for function, states in lambda_task_states().items()}


def record(scenario: Scenario, make: Callable[..., Harness]) -> dict[str, list[list[str]]]:
    """Run the scenario clean; every (service, operation) each Lambda function called, sorted."""
    h = scenario.build(make)
    start, invoked = len(h.rt.api_calls()), len(h.rt.router.invocations)
    scenario.run(h)
    # a function that made no AWS call is listed too (its cases are faults of the Lambda runtime itself)
    calls: dict[str, set[tuple[str, str]]] = {i.function.removeprefix("nightshift-"): set()
                                               for i in h.rt.router.invocations[invoked:]}
    for call in h.rt.api_calls()[start:]:
        if call.function is not None:
            calls.setdefault(call.function.removeprefix("nightshift-"), set()).add((call.service, call.operation))
    return {task: [list(pair) for pair in sorted(pairs)] for task, pairs in sorted(calls.items())}


def load_catalogue() -> dict[str, dict[str, list[list[str]]]]:
    data: dict[str, dict[str, list[list[str]]]] = json.loads(CATALOGUE.read_text())
    return data


# -- the fault kinds -----------------------------------------------------------------------------------------

READS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet")

# Each service's real throttling error (code, HTTP status).
THROTTLING = {
    "ec2": ("RequestLimitExceeded", 503),  # EC2 API throttling
    "elastic-load-balancing-v2": ("Throttling", 400),
    "auto-scaling": ("Throttling", 400),
    "cloudwatch": ("Throttling", 400),
    "ssm": ("ThrottlingException", 400),
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "sns": ("Throttled", 429),
    "eventbridge": ("ThrottlingException", 400),
    "sfn": ("ThrottlingException", 400),
}
# Each service's internal error (code, HTTP status).
SERVER_ERROR = {
    "ec2": ("InternalError", 500),
    "elastic-load-balancing-v2": ("ServiceUnavailable", 503),
    "auto-scaling": ("ServiceUnavailable", 503),
    "cloudwatch": ("InternalServiceError", 500),
    "ssm": ("InternalServerError", 500),
    "dynamodb": ("InternalServerError", 500),
    "sns": ("InternalError", 500),
    "eventbridge": ("InternalException", 500),
    "sfn": ("InternalServerError", 500),
}
# The AWS errors that mean "not yet" (retrying later succeeds), per operation. Every other operation has none:
# reads (Describe*, Get*, List*, Query) answer with the current state, never "not yet"; DynamoDB's only
# refusal on a write is a failed condition, which is an answer (someone else holds it), not "not yet";
# RegisterTargets/DeregisterTargets, SetInstanceHealth, EnterStandby/ExitStandby, Publish and PutEvents
# document no such error.
NOT_YET = {
    ("ssm", "SendCommand"): ("InvalidInstanceId", 400),  # the agent is not online (rebooting, stopped)
    ("ssm", "GetCommandInvocation"): ("InvocationDoesNotExist", 400),  # just sent: not visible yet
    ("ec2", "RebootInstances"): ("IncorrectInstanceState", 400),  # pending, stopping: not in a state to act
    ("ec2", "StopInstances"): ("IncorrectInstanceState", 400),
    ("ec2", "StartInstances"): ("IncorrectInstanceState", 400),
}
KINDS = ("throttling", "server-error", "not-yet", "lost-answer", "crash-after", "timeout-before")


def mutating(operation: str) -> bool:
    return not operation.startswith(READS)


def kinds_for(service: str, operation: str) -> list[str]:
    """A read has no effect: a fault after it takes effect is the same as one before. Faults after the call
    (lost answer, crash) and the sandbox timing out before it apply to calls that change something."""
    if (service, operation) == ("lambda", "Invoke"):  # a Task that calls nothing: its runtime fails
        return ["crash-after", "timeout-before"]
    kinds = ["throttling", "server-error"]
    if (service, operation) in NOT_YET:
        kinds.append("not-yet")
    if mutating(operation):
        kinds += ["lost-answer", "crash-after", "timeout-before"]
    return kinds


@dataclass(frozen=True)
class Case:
    scenario: str
    task: str
    service: str
    operation: str
    kind: str

    @property
    def id(self) -> str:
        return f"{self.task}:{self.service}.{self.operation}:{self.kind}"

    @property
    def function(self) -> str:
        return f"nightshift-{self.task}"


def cases(catalogue: dict[str, dict[str, list[list[str]]]]) -> list[Case]:
    """Every (Task, service, operation) once, in the first scenario (catalogue order) that makes the call."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Case] = []
    for scenario, tasks in catalogue.items():
        for task, pairs in tasks.items():
            for service, operation in pairs or [["lambda", "Invoke"]]:
                if (task, service, operation) in seen:
                    continue
                seen.add((task, service, operation))
                out += [Case(scenario, task, service, operation, kind) for kind in kinds_for(service, operation)]
    return out


def smoke(all_cases: list[Case]) -> list[Case]:
    """`make test`'s slice: one case per Task, fixed: the answer lost after its first call that changes
    something outside DynamoDB (a reboot, stop, start or SetInstanceHealth first; else a DynamoDB write),
    else the runtime dying after it, else throttling."""
    def rank(case: Case) -> tuple[int, bool, bool]:
        kind = {"lost-answer": 0, "crash-after": 1}.get(case.kind, 2)
        return kind, case.service == "dynamodb", (case.service, case.operation) not in ONCE_PER_REMEDIATION

    chosen: dict[str, Case] = {}
    for case in all_cases:
        if case.task not in chosen or rank(case) < rank(chosen[case.task]):
            chosen[case.task] = case
    return [chosen[task] for task in sorted(chosen)]


def inject(h: Harness, case: Case) -> Any:
    """Arm the case's fault on that one operation within that one function; returns the fault (``fired``)."""
    rt, function = h.rt, case.function
    if case.service == "lambda":  # the Task made no AWS call: the sandbox dies after or before its handler
        return _sandbox_fault(h, function, case.kind)
    if case.kind == "throttling":
        code, status = THROTTLING[case.service]
        return rt.inject(case.service, case.operation, code, "Rate exceeded (injected)", status, 1, function)
    if case.kind == "server-error":  # an outage for as long as the Task is retried: it lands in the Catch
        code, status = SERVER_ERROR[case.service]
        return rt.inject(case.service, case.operation, code, "We encountered an internal error (injected)",
                         status, None, function)
    if case.kind == "not-yet":
        code, status = NOT_YET[(case.service, case.operation)]
        return rt.inject(case.service, case.operation, code, "not yet (injected)", status, 1, function)
    if case.kind == "lost-answer":
        return rt.inject_after(case.service, case.operation, 1, function)
    if case.kind == "crash-after":
        return rt.inject_after(case.service, case.operation, 1, function, crash="Lambda.Unknown")
    if case.kind == "timeout-before":
        assert rt.interceptor is not None
        from nightshift.runtime.interceptor import SandboxDied

        return rt.interceptor.inject_before_raise(
            case.service, case.operation,
            lambda: SandboxDied("Sandbox.Timedout", f"{function} timed out before {case.operation}"), 1, function)
    raise ValueError(case.kind)


@dataclass
class _RouterFault:
    fired: int = 0


def _sandbox_fault(h: Harness, function: str, kind: str) -> _RouterFault:
    from nightshift.runtime.interceptor import SandboxDied

    fault = _RouterFault()

    def hook(name: str, *_: Any) -> None:
        if name == function and not fault.fired:
            fault.fired += 1
            if kind == "crash-after":
                raise SandboxDied("Lambda.Unknown", f"{function} died after its handler returned")
            raise SandboxDied("Sandbox.Timedout", f"{function} timed out before its handler ran")

    (h.rt.router.after if kind == "crash-after" else h.rt.router.before).append(hook)
    return fault


# -- the invariants ------------------------------------------------------------------------------------------

ONCE_PER_REMEDIATION = (("ec2", "RebootInstances"), ("ec2", "StopInstances"), ("ec2", "StartInstances"),
                        ("auto-scaling", "SetInstanceHealth"))


def _instances_of(call: Any) -> list[str]:
    params = call.params
    if "InstanceIds" in params:
        return list(params["InstanceIds"])
    if "InstanceId" in params:
        return [params["InstanceId"]]
    return [t["Id"] for t in params.get("Targets", [])]


def required(h: Harness) -> int:
    size = len(h.built.instance_ids)
    return max(int(h.group["min_healthy"]), math.ceil(size * float(h.group["min_healthy_percent"]) / 100))


def executions(h: Harness, machine: str = "remediate") -> list[dict[str, Any]]:
    sfn = h.rt.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=h.rt.state_machines[machine])["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def operator_replays(h: Harness) -> list[str]:
    """`nightshift replay --failed`: every replayable failure, newest per remediation; wait for each.
    A failed sweep, or one whose reconciler failed (announced: "it stays out until a sweep succeeds"), is run
    again (a sweep is not replayed: the next one does its work)."""
    sfn = h.rt.client("stepfunctions")
    started: list[str] = []
    for target in failed_since(sfn, h.rt.state_machines["remediate"], timedelta(days=3650)):
        try:
            result = replay(sfn, target)
        except ReplayRefused:
            continue
        if result.how != "already":
            h.rt.wait(result.execution_arn, timeout=300)
            started.append(result.execution_arn)
    sweeps = sorted(executions(h, "sweep"), key=lambda e: e["startDate"])
    if sweeps and (sweeps[-1]["status"] != "SUCCEEDED" or _reconcile_failed(sweeps[-1])):
        h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
        started.append("sweep")
    return started


def _reconcile_failed(sweep: dict[str, Any]) -> bool:
    summary = json.loads(sweep.get("output") or "{}").get("summary") or {}
    return bool((summary.get("reconcile") or {}).get("status") == "failed")


def check_invariants(h: Harness, scenario: Scenario, final: bool, unknown: bool = False) -> list[str]:
    """Every safety invariant; returns the problems (empty: all hold). ``final``: after the operator's
    replays, so the leaker must have ended as the scenario ends when nothing fails. ``unknown``: the fault
    left the step unable to know whether its call went out (the sandbox died just before it, or EC2 answered a
    reboot with a 5xx), so a reboot may be replaced by the next rung of the ladder (one stop/start)."""
    calls = h.rt.api_calls()
    records = [audit.as_dict(r) for r in audit.for_group("web")]
    events = [(r["event"], r["instance_id"]) for r in records]
    replaced = h.built.auto_scaling_group is not None and h.sim.asg_lifecycle(h.leaker) in ("Terminating", None)
    problems = _requests(h, calls) + _capacity(h)
    held = lock.slots([lock.slot_key("web", i) for i in range(4)])
    if held:
        problems.append(f"the lock is still held: {[(slot.group, slot.owner) for slot in held]}")
    problems += _failures_audited(h, records) + _in_service(h, calls, records, replaced, final,
                                                            scenario.failing_from_start)
    if final:
        problems += _ended_as(h, scenario, events, replaced, unknown)
    return problems


def _requests(h: Harness, calls: list[Any]) -> list[str]:
    """At most one accepted reboot, stop, start, SetInstanceHealth per instance, counted at the API; only the
    selected instance leaves its target groups, and only it is registered again."""
    problems: list[str] = []
    for service, operation in ONCE_PER_REMEDIATION:
        sent: dict[str, int] = {}
        for call in calls:
            if call.accepted and (call.service, call.operation) == (service, operation):
                for instance in _instances_of(call):
                    sent[instance] = sent.get(instance, 0) + 1
        problems += [f"{operation} accepted {n} times for {i}" for i, n in sent.items() if n > 1]
        problems += [f"{operation} sent for {i}, which was not the leaker" for i in sent if i != h.leaker]
    deregistered = {i for c in calls if c.accepted and c.operation == "DeregisterTargets" for i in _instances_of(c)}
    registered = {i for c in calls if c.accepted and c.operation == "RegisterTargets" and c.function
                  for i in _instances_of(c)}
    problems += [f"DeregisterTargets of {i}, not the leaker" for i in deregistered - {h.leaker}]
    # (registering the leaker again where a DeregisterTargets failed is a no-op: a registered target stays)
    problems += [f"RegisterTargets of {i}, never deregistered" for i in registered - deregistered - {h.leaker}]
    return problems


def _capacity(h: Harness) -> list[str]:
    """Never below the floor, never two instances out of service at once (ASG replacements aside)."""
    problems: list[str] = []
    launched = set(h.sim.replacements()) if h.built.auto_scaling_group else set()
    floor = required(h)
    for point in h.sim.capacity_timeline():
        if len(point.out_of_service - launched) > 1:
            problems.append(f"{sorted(point.out_of_service)} out of service together at {point.time}")
        problems += [f"{tg}: {n} healthy < {floor} at {point.time}" for tg, n in point.healthy.items() if n < floor]
    return problems


def _failures_audited(h: Harness, records: list[dict[str, Any]]) -> list[str]:
    """Every failed execution that acted (wrote anything to the audit trail) has a FAILED record with its error
    and cause; one that failed before acting (validation) has nothing to announce."""
    problems: list[str] = []
    for execution in executions(h):
        if execution["status"] == "SUCCEEDED":
            continue
        arn = execution["executionArn"]
        failed = [r for r in records if r["execution_id"] == arn and r["event"] == "FAILED"]
        if failed:
            if not failed[-1]["details"].get("error") or not failed[-1]["details"].get("cause"):
                problems.append(f"{arn}: FAILED audited without its error and cause: {failed[-1]}")
        elif any(r["execution_id"] == arn for r in records):
            problems.append(f"{arn} {execution['status']} ({execution.get('error')}: "
                            f"{str(execution.get('cause'))[:200]}) and no FAILED audit record")
    return problems


def _in_service(h: Harness, calls: list[Any], records: list[dict[str, Any]], replaced: bool,
                final: bool, failing_from_start: bool = False) -> list[str]:
    """Every instance in service, or left out deliberately and announced (LEFT_OUT_OF_SERVICE audited, a
    notification published), or (before the replay) out after a failure that was audited and published: its
    remediation FAILED, or the sweep's reconciler could not put it back (RECONCILE_FAILED naming the
    remediation that took it out, and a reconcile_failed message)."""
    problems: list[str] = []
    events = [(r["event"], r["instance_id"]) for r in records]
    published = [c for c in calls if c.accepted and (c.service, c.operation) == ("sns", "Publish")]
    later = h.rt.clock.now() + 900
    for instance in h.built.instance_ids:
        if instance == h.leaker and replaced:
            continue
        out = [tg for tg in h.built.target_group_arns if h.sim.target_state(instance, tg, at=later) != "healthy"]
        if not out:
            continue
        left_out = ("LEFT_OUT_OF_SERVICE", instance) in events
        announced_failure = (("FAILED", instance) in events and bool(published)) or _reconcile_failure_announced(
            instance, records, published)
        if instance == h.leaker and ((left_out and published) or (not final and announced_failure)):
            continue
        never_taken_out = not any(c.accepted and c.operation == "DeregisterTargets" and instance in _instances_of(c)
                                  for c in calls)
        if instance == h.leaker and failing_from_start and not final and never_taken_out:
            continue  # out by its own fault, not by us: the replay must heal it (checked when final)
        problems.append(f"{instance} out of service in {len(out)} target group(s), "
                        f"{'announced' if announced_failure or left_out else 'NOT announced'}")
    return problems


def _reconcile_failure_announced(instance: str, records: list[dict[str, Any]], published: list[Any]) -> bool:
    """The group's RECONCILE_FAILED audited after the instance was taken out, and a ``reconcile_failed``
    message naming the group published (the reconciler may have failed before it could read what is open)."""
    taken_out = [float(r["at"]) for r in records if r["event"] == "DEREGISTERED" and r["instance_id"] == instance]
    audited = bool(taken_out) and any(r["event"] == "RECONCILE_FAILED" and float(r["at"]) >= min(taken_out)
                                      for r in records)
    announced = any('"reconcile_failed"' in str(c.params.get("Message", "")) and '"web"' in
                    str(c.params.get("Message", "")) for c in published)
    return audited and announced


def _ended_as(h: Harness, scenario: Scenario, events: list[tuple[str, str | None]], replaced: bool,
              unknown: bool) -> list[str]:
    if scenario.end == "rebooted":
        stop_started = [what for what, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
        rebooted = ((len(h.sim.reboots(h.leaker)) == 1 or (unknown and stop_started))
                    and h.in_service_everywhere(h.leaker))
        return [] if rebooted else [f"the leaker did not end rebooted once and in service "
                                    f"(reboots {h.sim.reboots(h.leaker)})"]
    if scenario.end == "stop_started":  # a failed system status check: stop/start first, never a reboot
        stopped = [what for what, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
        healed = stopped and not h.sim.reboots(h.leaker) and h.in_service_everywhere(h.leaker)
        return [] if healed else [f"the impaired instance did not end stopped and started once, unrebooted, in "
                                  f"service (stop/start {h.sim.stop_start_requests(h.leaker)}, reboots "
                                  f"{h.sim.reboots(h.leaker)})"]
    if scenario.end == "replaced":
        return [] if replaced else [f"the leaker was not replaced (lifecycle {h.sim.asg_lifecycle(h.leaker)})"]
    left_out = ("LEFT_OUT_OF_SERVICE", h.leaker) in events
    return [] if left_out else ["the leaker was not left out (no LEFT_OUT_OF_SERVICE audit)"]


# -- re-recording --------------------------------------------------------------------------------------------

def record_all() -> dict[str, dict[str, list[list[str]]]]:
    """Every scenario recorded clean, each in a runtime of its own (closed before the next one opens)."""
    from tests.harness import open_harness

    out: dict[str, dict[str, list[list[str]]]] = {}
    for scenario in SCENARIOS.values():
        opened: list[Harness] = []

        def make(spec: FleetSpec | None = None, _opened: list[Harness] = opened, **overrides: Any) -> Harness:
            _opened.append(open_harness(spec, **overrides))
            return _opened[-1]

        try:
            out[scenario.name] = record(scenario, make)
        finally:
            for h in opened:
                h.rt.__exit__(None, None, None)
    return out


if __name__ == "__main__":
    recorded = record_all()
    if "--write" in sys.argv:
        CATALOGUE.write_text(json.dumps(recorded, indent=1) + "\n")
    print(json.dumps({s: {t: len(p) for t, p in tasks.items()} for s, tasks in recorded.items()}, indent=1))
