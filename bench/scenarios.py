"""One benchmark scenario = one remediation of one simulated fleet, by Nightshift or by the seed's Lambda.

Both run against the same ``FleetSpec`` (same seed, same leaking instance, same in-flight behaviour) in a
fresh ``LocalRuntime`` (moto + the fleet simulator + the virtual clock), and report plain numbers:
AWS calls by step, Lambda seconds, state transitions, and a timeline of the remediation measured against
the physical limit the simulator computes.
"""

from __future__ import annotations

import gc
import io
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bench import baseline_seed, metric_statistics
from bench.meter import ENGINE, ApiMeter

LEAKER = 5
GROUP = "web"
SELECT = "nightshift-select-worst-instance"
BASELINE_SELECT = "baseline:select"
BASELINE_REMEDIATE = "baseline:remediate"
LAMBDA_TIMEOUT = baseline_seed.LAMBDA_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Settings:
    """The group settings Nightshift runs with in the bench (steps/core/config.py), and the agent's interval.

    Chosen as an SRE would set them for a web fleet, not to win: see COST.md and results.md for the
    trade-off (every poll-loop iteration is three state transitions: Task, Choice, Wait).
    """

    # The agent's memory interval: 60 s is its default metrics_collection_interval (standard resolution, a
    # 60 s period); below 60 s the agent publishes high resolution and selection reads that interval as period.
    memory_interval_seconds: int = 60
    # How long after collection a sample is readable in CloudWatch (the simulator's knob and the group's
    # metric.ingestion_delay_seconds). AWS documents no number: 60 s is our assumption.
    ingestion_delay_seconds: int = 60
    drain_poll_seconds: int = 5
    drain_floor_seconds: int = 5  # no early end before this: lets every ALB node stop routing to the target
    drain_quiet_checks: int = 1  # one zero reading taken >= floor after deregistration, see results.md
    drain_margin_seconds: int = 15
    boot_poll_seconds: int = 5
    health_poll_seconds: int = 10  # = the target groups' HealthCheckIntervalSeconds: state can't change faster

    def memory_period(self) -> dict[str, int]:
        """The memory metric's period and resolution as the agent publishes it at this interval."""
        high = self.memory_interval_seconds < 60
        return {"period_seconds": self.memory_interval_seconds if high else 60,
                "resolution_seconds": 1 if high else 60, "ingestion_delay_seconds": self.ingestion_delay_seconds}

    def group(self, signal: str) -> dict[str, Any]:
        return {
            "metric": {"namespace": "CWAgent", "name": "mem_used_percent", "threshold": 65.0,
                       "breaching_datapoints": 3, "evaluation_datapoints": 5, **self.memory_period()},
            "min_healthy": 5,
            "min_healthy_percent": 50,
            "drain": {"signal": signal, "poll_seconds": self.drain_poll_seconds,
                      "floor_seconds": self.drain_floor_seconds, "quiet_checks": self.drain_quiet_checks,
                      "margin_seconds": self.drain_margin_seconds},
            "boot": {"signal": "ssm", "poll_seconds": self.boot_poll_seconds},
            "health": {"poll_seconds": self.health_poll_seconds},
        }


@dataclass(frozen=True)
class Scenario:
    kind: str  # nightshift | baseline
    size: int
    delay: int
    inflight: float  # seconds the in-flight requests take to finish after deregistration
    signal: str = "ssm"  # nightshift only
    settings: Settings = field(default_factory=Settings)
    label: str = ""  # names a settings variant in the trade-off sweep
    boot_seconds: float = 60.0  # how long the OS takes to boot (the simulator's default)

    @property
    def key(self) -> str:
        base = f"{self.kind}/N={self.size}/delay={self.delay}/inflight={self.inflight:g}"
        if self.kind == "nightshift":
            base += f"/signal={self.signal}"
        if self.boot_seconds != 60.0:
            base += f"/boot={self.boot_seconds:g}"
        return base + (f"/{self.label}" if self.label else "")


def fleet_spec(scenario: Scenario) -> Any:
    from nightshift.sim import FleetSpec, InstanceSpec

    behaviour = InstanceSpec(inflight_seconds=scenario.inflight, boot_seconds=scenario.boot_seconds)
    return FleetSpec(name=GROUP, size=scenario.size, deregistration_delay=scenario.delay, default=behaviour,
                     leaking={LEAKER: replace(behaviour, leak_to_percent=85.0)},
                     memory_sample_seconds=scenario.settings.memory_interval_seconds,
                     metric_ingestion_delay_seconds=scenario.settings.ingestion_delay_seconds)


# -- what the simulator knows -------------------------------------------------------------------------

def healthy_everywhere_at(sim: Any, instance_id: str, tg_arns: list[str], since: float,
                          horizon: float = 1800.0, step: float = 0.05) -> float | None:
    """The first instant >= ``since`` at which the target is healthy in every target group (the simulator's
    timeline is fully determined by the events so far, so future instants can be asked about)."""
    t = since
    while t <= since + horizon:
        if all(sim.target_state(instance_id, arn, at=t) == "healthy" for arn in tg_arns):
            return t
        t += step
    return None


def deregistered_at(sim: Any, instance_id: str) -> float | None:
    instance = sim.instance(instance_id)
    times = [record.registrations[0].deregistered_at for record in instance.targets.values()]
    times = [t for t in times if t is not None]
    return min(times) if times else None


def physical_limit(sim: Any, instance_id: str, started_at: float, dereg_at: float, delay: int,
                   inflight: float) -> float:
    """``sim.physical_remediation_seconds`` from ``started_at``, with in-flight work that outlasts the
    deregistration delay ending at the delay (the load balancer closes what is left then)."""
    physical = sim.physical_remediation_seconds(instance_id, started_at)
    assert physical is not None, "the bench never uses in-flight work that never ends"
    beyond_delay = max(0.0, (dereg_at + inflight) - (dereg_at + delay))
    return float(physical - beyond_delay)


def connections_at_reboot(sim: Any, instance_id: str) -> int | None:
    """Established connections just before the OS went down (> 0: requests were cut)."""
    instance = sim.instance(instance_id)
    if not instance.power.outages:
        return None
    stops = instance.power.outages[0].stops_serving_at
    connections: int | None = sim.connections(instance_id, at=stops - 1e-6)
    return connections


# -- running ----------------------------------------------------------------------------------------------

def _runtime() -> Any:
    from nightshift.runtime.runner import LocalRuntime

    return LocalRuntime(log_stream=io.StringIO())


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the emulated AWS's heap out of the handlers' garbage collections.

    moto and the simulator hold hundreds of thousands of objects at N = 1,000 (millions at 5,000). A full
    (generation 2) collection scans them all, 0.1-0.5 s alone and seconds when two bench processes share
    the CPUs, and it lands in whichever handler happens to allocate: noise a real Lambda (whose heap is its
    own few modules) never pays. ``gc.freeze()`` after building the world moves every object that exists to
    a permanent generation, so collections during the run only see what the run allocates.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _wait(rt: Any, arn: str, timeout: float = 900.0) -> dict[str, Any]:
    """describe_execution until it finishes; polls every 20 ms (the runtime's own wait polls every 5 ms,
    and that polling thread competes with the handlers for the GIL, inflating their measured time)."""
    sfn = rt.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if description["status"] not in ("RUNNING", "PENDING_REDRIVE"):
            return description
        time.sleep(0.02)
    raise TimeoutError(f"{arn} still running after {timeout} s of real time")


def _exits(history: list[dict[str, Any]], name: str) -> list[float]:
    return [e["timestamp"].timestamp() for e in history
            if (e.get("stateExitedEventDetails") or {}).get("name") == name]


def transitions(history: list[dict[str, Any]]) -> dict[str, int]:
    """AWS bills a state transition each time a step executes, retries included."""
    types = Counter(e["type"] for e in history)
    entered = sum(1 for e in history if "stateEnteredEventDetails" in e)
    attempts = types["LambdaFunctionScheduled"] + types["TaskScheduled"]
    retries = max(0, attempts - types["TaskStateEntered"])
    return {"billed": entered + retries, "states_entered": entered, "retries": retries, "events": len(history)}


def run_nightshift(scenario: Scenario) -> dict[str, Any]:
    wall0 = time.perf_counter()
    meter = ApiMeter()
    with _runtime() as rt:
        meter.install(rt)
        try:
            sim, built = rt.add_fleet(fleet_spec(scenario))
            build_seconds = time.perf_counter() - wall0
            rt.declare_groups([built.group_declaration(**scenario.settings.group(scenario.signal))])
            leaker = built.instance_ids[LEAKER]
            started = rt.clock.now()
            with frozen_heap():
                run0 = time.perf_counter()
                arn = rt.start({"group": GROUP, "reason": "bench", "requested_by": "bench"})
                description = _wait(rt, arn)
                run_seconds = time.perf_counter() - run0
            history = rt.history(arn)
            result = _nightshift_result(scenario, rt, sim, built, meter, history, description, started, leaker)
        finally:
            meter.uninstall()
    result["wall_seconds"] = {"build": round(build_seconds, 3), "run": round(run_seconds, 3),
                              "total": round(time.perf_counter() - wall0, 3)}
    return result


def _nightshift_result(scenario: Scenario, rt: Any, sim: Any, built: Any, meter: ApiMeter,
                       history: list[dict[str, Any]], description: dict[str, Any], started: float,
                       leaker: str) -> dict[str, Any]:
    tg_arns = list(built.target_group_arns)
    selected = _selected_instance(history)
    end = history[-1]["timestamp"].timestamp()
    timeline: dict[str, float | None] = {"start": 0.0}
    dereg = deregistered_at(sim, leaker)
    physical = None
    if dereg is not None:
        drained = _exits(history, "Check whether the drain is over")
        booted = _exits(history, "Check whether the instance rebooted")
        registered = _exits(history, "Register in every target group")
        healthy_seen = _exits(history, "Check target health")
        instance = sim.instance(leaker)
        outage = instance.power.outages[0] if instance.power.outages else None
        truly_healthy = healthy_everywhere_at(sim, leaker, tg_arns, registered[-1]) if registered else None
        inflight_end = dereg + min(scenario.inflight, scenario.delay)
        timeline.update({
            "deregistered": dereg - started,
            "inflight_ended": inflight_end - started,
            "drain_ended": drained[-1] - started if drained else None,
            "reboot_requested": outage.requested_at - started if outage else None,
            "os_back": outage.up_at - started if outage else None,
            "boot_proven": booted[-1] - started if booted else None,
            "registered": registered[-1] - started if registered else None,
            "healthy": truly_healthy - started if truly_healthy else None,
            "healthy_seen": healthy_seen[-1] - started if healthy_seen else None,
        })
        physical = physical_limit(sim, leaker, started, dereg, scenario.delay, scenario.inflight)
    end_seconds = round(end - started, 3)
    timeline["end"] = end_seconds
    timeline = {k: (round(v, 3) if v is not None else None) for k, v in timeline.items()}
    invocations = rt.router.invocations
    select_timing = meter.timing(SELECT)
    by_step: dict[str, Counter[str]] = {}
    for call in meter.calls:
        by_step.setdefault(call.step, Counter())[call.operation] += 1
    handler_seconds = sum(i.seconds for i in invocations)
    return {
        "key": scenario.key,
        "scenario": _scenario_dict(scenario),
        "status": description["status"],
        "selected": selected,
        "leaker": leaker,
        "selected_correctly": selected == leaker,
        "selection_calls": dict(sorted(meter.by_operation(SELECT).items())),
        "selection_call_count": sum(meter.by_operation(SELECT).values()),
        "selection_metrics_requested": meter.metrics_requested(SELECT),
        "selection_cpu_seconds": round(sum(t.thread_cpu for t in select_timing), 4),
        "selection_own_cpu_seconds": round(sum(t.own_cpu for t in select_timing), 4),
        "selection_process_cpu_seconds": round(sum(t.process_cpu for t in select_timing), 4),
        "selection_wall_seconds": round(sum(t.wall for t in select_timing), 4),
        "selection_in_aws_seconds": round(sum(t.in_aws_calls for t in select_timing), 4),
        "calls_by_step": {step: dict(sorted(c.items())) for step, c in sorted(by_step.items())},
        "metrics_requested": meter.metrics_requested(),
        "lambda_invocations": len(invocations),
        "lambda_seconds": round(handler_seconds, 4),
        "lambda_billed_seconds": round(sum(math.ceil(i.seconds * 1000) / 1000 for i in invocations), 4),
        "lambda_functions": sorted({i.function for i in invocations}),
        "lambda_seconds_by_function": _by_function(invocations),
        "transitions": transitions(history),
        "timeline": timeline,
        "remediation_seconds": timeline["end"],
        "physical_seconds": round(physical, 3) if physical is not None else None,
        "ratio": round(end_seconds / physical, 4) if physical else None,
        "connections_at_reboot": connections_at_reboot(sim, leaker) if dereg is not None else None,
        "drain_ended_by": _drain_ended_by(history),
        "engine_calls": dict(sorted(meter.by_operation(ENGINE).items())),
    }


def _by_function(invocations: list[Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for i in invocations:
        entry = out.setdefault(i.function, {"invocations": 0, "seconds": 0.0})
        entry["invocations"] += 1
        entry["seconds"] = round(entry["seconds"] + i.seconds, 4)
    return dict(sorted(out.items()))


def _selected_instance(history: list[dict[str, Any]]) -> str | None:
    import json

    for event in history:
        exited = event.get("stateExitedEventDetails") or {}
        if exited.get("name") == "Select the worst instance":
            output = json.loads(exited.get("output") or "{}")
            return (output.get("selection") or {}).get("instance_id")
    return None


def _drain_ended_by(history: list[dict[str, Any]]) -> str | None:
    import json

    for event in reversed(history):
        exited = event.get("stateExitedEventDetails") or {}
        if exited.get("name") == "Check whether the drain is over":
            return (json.loads(exited.get("output") or "{}").get("drain") or {}).get("ended_by")
    return None


def _scenario_dict(scenario: Scenario) -> dict[str, Any]:
    data = asdict(scenario)
    if scenario.kind == "baseline":
        data.pop("signal")
        data.pop("settings")
    return data


# -- the seed's Lambda, on the virtual clock --------------------------------------------------------------

class LambdaKilled(Exception):
    """Lambda stopped the function at its timeout."""


class VirtualLambda:
    """Runs one invocation as Lambda bills it, on the virtual clock: real handler time plus (virtual)
    sleeps, killed when the total reaches the timeout. ``sync`` moves the clock by the real time spent
    since the last sync, so the simulator sees each AWS call at the right virtual instant."""

    def __init__(self, clock: Any, timeout: float = LAMBDA_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self.real = 0.0
        self.slept = 0.0
        self.killed = False
        self._last = time.perf_counter()

    @property
    def billed(self) -> float:
        return self.real + self.slept

    def sync(self) -> None:
        current = time.perf_counter()
        delta, self._last = current - self._last, current
        self.real += delta
        self.clock.advance(delta)

    def sleep(self, seconds: float) -> None:
        self.sync()
        if self.billed + seconds > self.timeout:
            left = max(0.0, self.timeout - self.billed)
            self.clock.advance(left)
            self.slept += left
            self.killed = True
            raise LambdaKilled(f"Task timed out after {self.timeout:.2f} seconds")
        self.clock.advance(seconds)
        self.slept += seconds
        self._last = time.perf_counter()


def run_baseline(scenario: Scenario) -> dict[str, Any]:
    wall0 = time.perf_counter()
    meter = ApiMeter()
    with _runtime() as rt:
        meter.install(rt)
        try:
            sim, built = rt.add_fleet(fleet_spec(scenario))
            metric_statistics.install(rt, sim)
            build_seconds = time.perf_counter() - wall0
            leaker = built.instance_ids[LEAKER]
            lam = VirtualLambda(rt.clock)
            started = rt.clock.now()

            def enter(name: str) -> None:
                meter.switch_phase(f"baseline:{name}")

            saved = (baseline_seed.sleep, baseline_seed.now, baseline_seed.phase)
            baseline_seed.sleep, baseline_seed.now, baseline_seed.phase = lam.sleep, rt.clock.now, enter
            meter.on_call.append(lam.sync)
            outcome: dict[str, Any]
            heap = frozen_heap()
            heap.__enter__()
            run0 = time.perf_counter()
            lam._last = run0
            try:
                lam.sync()
                outcome = baseline_seed.handler({"target_group_arns": list(built.target_group_arns),
                                                 "deregistration_delay": scenario.delay})
                lam.sync()
            except LambdaKilled as exc:
                outcome = {"action": "killed", "error": str(exc)}
            finally:
                run_seconds = time.perf_counter() - run0
                heap.__exit__(None, None, None)
                meter.switch_phase(None)
                meter.on_call.remove(lam.sync)
                baseline_seed.sleep, baseline_seed.now, baseline_seed.phase = saved
            result = _baseline_result(scenario, sim, built, meter, lam, outcome, started, leaker)
        finally:
            meter.uninstall()
    result["wall_seconds"] = {"build": round(build_seconds, 3), "run": round(run_seconds, 3),
                              "total": round(time.perf_counter() - wall0, 3)}
    return result


def _baseline_result(scenario: Scenario, sim: Any, built: Any, meter: ApiMeter, lam: VirtualLambda,
                     outcome: dict[str, Any], started: float, leaker: str) -> dict[str, Any]:
    tg_arns = list(built.target_group_arns)
    dereg = deregistered_at(sim, leaker)
    taken_out = [i for i in built.instance_ids if deregistered_at(sim, i) is not None]
    selected = taken_out[0] if len(taken_out) == 1 else outcome.get("instance_id")
    instance = sim.instance(leaker)
    outage = instance.power.outages[0] if instance.power.outages else None
    registrations = [r.registrations for r in instance.targets.values()]
    reregistered = [regs[1].registered_at for regs in registrations if len(regs) > 1]
    timeline: dict[str, float | None] = {"start": 0.0}
    healthy = None
    if dereg is not None:
        timeline["deregistered"] = dereg - started
        timeline["inflight_ended"] = dereg + min(scenario.inflight, scenario.delay) - started
    if outage is not None:
        timeline["reboot_requested"] = outage.requested_at - started
        timeline["os_back"] = outage.up_at - started
    if reregistered:
        timeline["registered"] = max(reregistered) - started
        healthy = healthy_everywhere_at(sim, leaker, tg_arns, max(reregistered))
        timeline["healthy"] = healthy - started if healthy is not None else None
    timeline["lambda_ended"] = lam.billed
    timeline = {k: (round(v, 3) if v is not None else None) for k, v in timeline.items()}
    completed = outcome.get("action") == "rebooted" and healthy is not None
    physical = physical_limit(sim, leaker, started, dereg, scenario.delay, scenario.inflight) \
        if dereg is not None and completed else None
    remediation = timeline.get("healthy") if completed else None
    select_timing = meter.timing(BASELINE_SELECT)
    return {
        "key": scenario.key,
        "scenario": _scenario_dict(scenario),
        "status": "SUCCEEDED" if completed else ("KILLED" if lam.killed else outcome.get("action", "?").upper()),
        "outcome": outcome,
        "selected": selected,
        "leaker": leaker,
        "selected_correctly": selected == leaker,
        "left_out_of_service": lam.killed and dereg is not None,
        "selection_calls": dict(sorted(meter.by_operation(BASELINE_SELECT).items())),
        "selection_call_count": sum(meter.by_operation(BASELINE_SELECT).values()),
        "selection_cpu_seconds": round(sum(t.thread_cpu for t in select_timing), 4),
        "selection_own_cpu_seconds": round(sum(t.own_cpu for t in select_timing), 4),
        "selection_wall_seconds": round(sum(t.wall for t in select_timing), 4),
        "selection_in_aws_seconds": round(sum(t.in_aws_calls for t in select_timing), 4),
        "calls_by_step": {step: dict(sorted(meter.by_operation(step).items()))
                          for step in (BASELINE_SELECT, BASELINE_REMEDIATE)},
        "lambda_invocations": 1,
        "lambda_seconds": round(lam.billed, 4),
        "lambda_real_seconds": round(lam.real, 4),
        "lambda_slept_seconds": round(lam.slept, 4),
        "lambda_billed_seconds": round(math.ceil(lam.billed * 1000) / 1000, 4),
        "killed": lam.killed,
        "transitions": {"billed": 0, "states_entered": 0, "retries": 0, "events": 0},
        "timeline": timeline,
        "remediation_seconds": remediation,
        "physical_seconds": round(physical, 3) if physical is not None else None,
        "ratio": round(remediation / physical, 4) if remediation is not None and physical else None,
        "connections_at_reboot": connections_at_reboot(sim, leaker),
    }


def run(scenario: Scenario) -> dict[str, Any]:
    return run_nightshift(scenario) if scenario.kind == "nightshift" else run_baseline(scenario)
