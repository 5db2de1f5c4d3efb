"""`python -m bench.fleet [--quick]`: fleet throughput (issue 17), several remediations at once against one at a time.

Scenario A, *throughput*: a group of N instances (3 AZs, 2 target groups) with K leaking ones, healed by one start
(a person's, or the sweep's child: the cascade starts the rest) with ``max_in_flight`` "10%", side by side with one
at a time (``max_in_flight`` 1, each started the moment the previous one ends: the best today's design can do).
Scenario B, *steady state*: every instance leaks to the threshold on a 2-3 hour cycle, the sweep starts every 15
minutes, for 12 hours; the share of instance-time spent above the threshold, one at a time against concurrent.

Both run the real state machines and handlers in moto against the fleet simulator, in discrete-event virtual time
(``LocalRuntime(scheduled=True)``, nightshift/runtime/scheduler.py): concurrent executions wait at the same time,
and a Lambda step lasts its handler's CPU time. Full mode (``make bench-fleet``: N = 1,000, K = 50; N = 100 for
12 h) writes bench/fleet-results.{md,json}; ``--quick`` (CI) writes bench/fleet-results-quick.{md,json}. Both exit
1 when a target is missed (bench/checks.py, ``fleet``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import checks
from bench.meter import ApiMeter
from bench.scenarios import Settings, frozen_heap, healthy_everywhere_at, transitions
from nightshift.sim.call_rate import CallTimeline, rate_rows, rate_table

HERE = Path(__file__).resolve().parent
GROUP = "web"
DELAY = 300  # the target groups' deregistration delay (AWS's default)
LEAK_TO = 85.0
SEED = 17
ONE_AT_A_TIME: int | str = 1
CONCURRENT: int | str = "10%"
STATE_TRANSITION = "stepfunctions.StateTransition"  # the timeline's name for billed transitions (api_limits)
SAMPLE_SECONDS = 10.0  # how finely scenario B reads every instance's memory to measure time above the threshold
REAL_TIMEOUT = 6 * 3600.0  # real seconds a scenario may take before the bench gives up on it


# -- scenarios ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Throughput:
    """Scenario A: K leakers in a group of N, healed from one start (or back to back, one at a time)."""

    size: int
    leakers: int
    max_in_flight: int | str
    seed: int = SEED

    @property
    def key(self) -> str:
        return f"throughput/N={self.size}/K={self.leakers}/max_in_flight={self.max_in_flight}"


@dataclass(frozen=True)
class Steady:
    """Scenario B: every instance leaks past the threshold on a cycle; the sweep runs on a schedule."""

    size: int
    hours: float
    max_in_flight: int | str
    sweep_minutes: int = 15
    cycle_hours: tuple[float, float] = (2.0, 3.0)  # from a boot until memory crosses the threshold
    seed: int = SEED

    @property
    def key(self) -> str:
        return (f"steady/N={self.size}/hours={self.hours:g}/sweep={self.sweep_minutes}min/"
                f"max_in_flight={self.max_in_flight}")


Scenario = Throughput | Steady


def plan(quick: bool) -> list[Scenario]:
    if quick:
        return [Throughput(100, 5, CONCURRENT), Throughput(100, 5, ONE_AT_A_TIME),
                Steady(30, 4.0, CONCURRENT), Steady(30, 4.0, ONE_AT_A_TIME)]
    return [Throughput(1000, 50, CONCURRENT), Throughput(1000, 50, ONE_AT_A_TIME),
            Steady(100, 12.0, CONCURRENT), Steady(100, 12.0, ONE_AT_A_TIME)]


# -- pure arithmetic (tests/bench/test_bench_fleet.py) ------------------------------------------------------

def leaker_indexes(size: int, count: int, seed: int = SEED) -> list[int]:
    """``count`` distinct instance indexes spread over the fleet (and so over its AZs), the same for a seed."""
    if not 0 <= count <= size:
        raise ValueError(f"leakers: {count} leaking instances do not fit a fleet of {size}")
    return sorted(random.Random(seed).sample(range(size), count))


def climb_seconds(cycle: float, base: float, threshold: float, top: float) -> float:
    """How long a linear climb from ``base`` to ``top`` must last to cross ``threshold`` ``cycle`` seconds after
    it starts (the simulator's ``leak_returns_after_seconds``)."""
    if not base < threshold < top:
        raise ValueError(f"a leak from {base} % to {top} % never crosses a threshold of {threshold} %")
    return cycle * (top - base) / (threshold - base)


@dataclass(frozen=True)
class Leak:
    base: float  # memory in use after a boot, %
    cycle: float  # seconds from a boot until memory crosses the threshold
    climb: float  # seconds from a boot until memory reaches LEAK_TO
    elapsed: float  # seconds into the cycle when the fleet is built


def steady_leaks(size: int, threshold: float, cycle_hours: tuple[float, float], seed: int = SEED,
                 top: float = LEAK_TO) -> list[Leak]:
    """Every instance's leak, seeded: a base level drawn as the simulator's default jitter draws it (40 % -10/+15),
    a cycle uniform in ``cycle_hours``, and a phase uniform over the cycle (a fleet in steady state, not one that
    all booted at once)."""
    rng = random.Random(seed)
    low, high = cycle_hours
    leaks = []
    for _ in range(size):
        base = 40.0 + rng.uniform(-10.0, 15.0)
        cycle = 3600.0 * rng.uniform(low, high)
        leaks.append(Leak(base, cycle, climb_seconds(cycle, base, threshold, top), rng.uniform(0.0, cycle)))
    return leaks


@dataclass(frozen=True)
class Above:
    """Time an instance spent above the threshold, from samples taken every ``step`` seconds."""

    seconds: float
    episodes: list[float] = field(default_factory=list)  # each uninterrupted stretch above, seconds


def time_above(samples: Sequence[float | None], threshold: float, step: float) -> Above:
    """Each sample stands for the ``step`` seconds that follow it; None (the OS down, nothing reported) is not
    above."""
    episodes: list[float] = []
    run = 0
    for value in samples:
        if value is not None and value > threshold:
            run += 1
        elif run:
            episodes.append(run * step)
            run = 0
    if run:
        episodes.append(run * step)
    return Above(sum(episodes), episodes)


def lowest_healthy(points: Sequence[tuple[float, dict[str, int]]], since: float, until: float) -> dict[str, int]:
    """Per target group, the fewest healthy targets at any instant in [since, until]: the point in effect at
    ``since`` (the last one at or before it) and every point after it up to ``until``."""
    in_effect: dict[str, int] | None = None
    lowest: dict[str, int] = {}
    for at, healthy in points:
        if at <= since:
            in_effect = healthy
            continue
        if at > until:
            break
        for tg, count in healthy.items():
            lowest[tg] = min(lowest.get(tg, count), count)
    for tg, count in (in_effect or {}).items():
        lowest[tg] = min(lowest.get(tg, count), count)
    return lowest


def hourly_sweep_hours(leakers: int, remediation_seconds: float, sweep_hours: float = 1.0) -> float:
    """One at a time, started only by a sweep every ``sweep_hours`` (infra/template.yaml's default rate(1 hour)):
    one leaker per sweep, the last one healed a remediation after the last sweep that starts one."""
    return (leakers - 1) * sweep_hours + remediation_seconds / 3600.0


def percent_by_window(peaks: dict[float, int], rate: float | None, burst: float | None) -> dict[str, float] | None:
    """Each window's peak against what a full bucket admits in it (nightshift/sim/call_rate.py ``allowance``):
    the 1 s figure is where the local clock's standing still during a step shows (an upper bound), the 60 s one
    is the sustained rate. None for an API with no documented limit."""
    from nightshift.sim.call_rate import allowance

    if rate is None:
        return None
    return {f"{window:g}": round(100.0 * peak / allowance(window, rate, burst), 1) for window, peak in peaks.items()}


def slots(max_in_flight: int | str, registered: int) -> int:
    from steps.domain.in_flight import parse_share

    return parse_share(max_in_flight, "max_in_flight").of(registered)


# -- the group each scenario declares -----------------------------------------------------------------------

def group_settings(scenario: Scenario) -> dict[str, Any]:
    """The bench's group (bench/scenarios.py ``Settings``, drain signal ssm) with the scenario's max_in_flight, and
    the blockers set to scale with it: both modes of a scenario declare exactly the same but max_in_flight."""
    group = Settings().group("ssm")
    group["max_in_flight"] = scenario.max_in_flight
    if isinstance(scenario, Throughput):
        # The storm breaker scales with the group (3 per 6 h by default would stop one at a time after 3 too).
        group["blockers"] = {"storm": {"max_remediations": "10%"}}
    else:
        # A fleet whose every instance leaks every 2-3 hours: about 0.4 remediations per instance an hour, up to 6
        # per instance in 12 h. The defaults (storm 3 per 6 h, one reboot per instance per 6 h, 3 reboots a day
        # before escalating to a stop/start) exist to stop exactly such a fleet; an SRE who knows it leaks sets:
        group["blockers"] = {"storm": {"max_remediations": "100%", "window_seconds": 3600},
                             "instance_cooldown_seconds": 3600}
        group["escalation"] = {"max_reboots_per_day": 12}
    return group


def throughput_fleet(scenario: Throughput) -> Any:
    from nightshift.sim import FleetSpec, InstanceSpec

    settings = Settings()
    leaking = {i: InstanceSpec(leak_to_percent=LEAK_TO)
               for i in leaker_indexes(scenario.size, scenario.leakers, scenario.seed)}
    return FleetSpec(name=GROUP, size=scenario.size, deregistration_delay=DELAY, leaking=leaking,
                     memory_sample_seconds=settings.memory_interval_seconds,
                     metric_ingestion_delay_seconds=settings.ingestion_delay_seconds)


def steady_fleet(scenario: Steady) -> Any:
    from nightshift.sim import FleetSpec, InstanceSpec

    settings = Settings()
    threshold = float(settings.group("ssm")["metric"]["threshold"])
    leaks = steady_leaks(scenario.size, threshold, scenario.cycle_hours, scenario.seed)
    leaking = {i: InstanceSpec(memory_percent=leak.base, leak_to_percent=LEAK_TO, leak_returns_after_seconds=leak.climb,
                               leak_elapsed_at_build=leak.elapsed) for i, leak in enumerate(leaks)}
    return FleetSpec(name=GROUP, size=scenario.size, deregistration_delay=DELAY, leaking=leaking,
                     memory_sample_seconds=settings.memory_interval_seconds,
                     metric_ingestion_delay_seconds=settings.ingestion_delay_seconds,
                     metric_history_seconds=3600.0)


# -- running ------------------------------------------------------------------------------------------------

def _runtime() -> Any:
    from nightshift.runtime.runner import LocalRuntime

    return LocalRuntime(log_stream=io.StringIO(), scheduled=True)


def _wait_idle(rt: Any) -> None:
    if not rt.scheduler.wait_idle(timeout=REAL_TIMEOUT):
        raise TimeoutError(f"executions still running after {REAL_TIMEOUT:.0f} s of real time")


def _executions(rt: Any, machine: str) -> list[dict[str, Any]]:
    sfn = rt.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=rt.state_machines[machine])
    return [e for page in pages for e in page["executions"]]


def _histories(rt: Any, machines: Sequence[str]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [(e, rt.history(e["executionArn"])) for machine in machines for e in _executions(rt, machine)]


def _record_transitions(timeline: CallTimeline, histories: Sequence[tuple[Any, list[dict[str, Any]]]]) -> None:
    """Every state entered, at its instant (Step Functions' StateTransition bucket, api_limits)."""
    for _, history in histories:
        for event in history:
            if "stateEnteredEventDetails" in event:
                timeline.record(STATE_TRANSITION, event["timestamp"].timestamp())


def _rates(timeline: CallTimeline, since: float, until: float) -> dict[str, Any]:
    rows = rate_rows(timeline, since=since)
    minutes = max((until - since) / 60.0, 1.0 / 60.0)
    listed = []
    for row in rows:
        entry = row.as_dict()
        entry["mean_per_minute"] = round(row.calls / minutes, 2)
        entry["percent_by_window"] = percent_by_window(
            {1.0: row.peak_per_second, 10.0: row.peak_per_10_seconds, 60.0: row.peak_per_minute},
            row.documented_rate, row.burst)
        listed.append(entry)
    worst = max((r for r in listed if r["percent_of_limit"] is not None), key=lambda r: r["percent_of_limit"],
                default=None)
    return {"rows": listed, "table": rate_table(rows), "worst": worst}


def _lambda(rt: Any, healed: int) -> dict[str, Any]:
    invocations = rt.router.invocations
    cpu = sum(i.cpu_seconds for i in invocations)
    wall = sum(i.seconds for i in invocations)
    per = max(healed, 1)
    by_function: dict[str, dict[str, float]] = {}
    for i in invocations:
        entry = by_function.setdefault(i.function, {"invocations": 0, "cpu_seconds": 0.0})
        entry["invocations"] += 1
        entry["cpu_seconds"] += i.cpu_seconds
    return {"invocations": len(invocations), "cpu_seconds": round(cpu, 3), "wall_seconds": round(wall, 3),
            "per_healed": {"invocations": round(len(invocations) / per, 1), "cpu_seconds": round(cpu / per, 4),
                           "wall_seconds": round(wall / per, 4)},
            "by_function": {name: {"invocations": int(e["invocations"]), "cpu_seconds": round(e["cpu_seconds"], 3)}
                            for name, e in sorted(by_function.items())}}


def _transitions(histories: Sequence[tuple[Any, list[dict[str, Any]]]], healed: int) -> dict[str, Any]:
    billed = sum(transitions(history)["billed"] for _, history in histories)
    return {"billed": billed, "per_healed": round(billed / max(healed, 1), 1), "executions": len(histories)}


def _calls_by_step(meter: ApiMeter) -> dict[str, dict[str, int]]:
    """step -> AWS operation -> calls, over the whole run (what each step asks of AWS, to explain the rates)."""
    by_step: dict[str, Counter[str]] = {}
    for call in meter.calls:
        by_step.setdefault(call.step, Counter())[call.operation] += 1
    return {step: dict(sorted(ops.items())) for step, ops in sorted(by_step.items())}


def _audits(group: str = GROUP) -> dict[str, int]:
    from steps.store import audit

    return dict(sorted(Counter(str(r.event) for r in audit.for_group(group)).items()))


def _capacity(sim: Any, built: Any, scenario: Scenario, since: float, until: float) -> dict[str, Any]:
    from steps.domain.capacity import required_healthy

    timeline = sim.capacity_timeline()
    points = [(p.time, dict(p.healthy)) for p in timeline]
    lowest = lowest_healthy(points, since, until)
    group = group_settings(scenario)
    floor = required_healthy(scenario.size, int(group["min_healthy"]), float(group["min_healthy_percent"]))
    out = [len(p.out_of_service) for p in timeline if since <= p.time <= until]
    return {"registered": scenario.size, "floor": floor,
            "lowest_healthy": {tg.split("/")[-2]: lowest.get(tg) for tg in built.target_group_arns},
            "lowest": min(lowest.values()) if lowest else None,
            "most_out_of_service": max(out, default=0),
            "max_in_flight_slots": slots(scenario.max_in_flight, scenario.size)}


def _start(rt: Any, name: str) -> str:
    return str(rt.start({"group": GROUP, "reason": "fleet bench", "requested_by": "bench"}, name=name))


def run_throughput(scenario: Throughput) -> dict[str, Any]:
    wall0 = time.perf_counter()
    meter = ApiMeter(CallTimeline())
    with _runtime() as rt:
        meter.install(rt)
        try:
            sim, built = rt.add_fleet(throughput_fleet(scenario))
            rt.declare_groups([built.group_declaration(**group_settings(scenario))])
            leakers = [built.instance_ids[i] for i in leaker_indexes(scenario.size, scenario.leakers, scenario.seed)]
            build_seconds = time.perf_counter() - wall0
            started = rt.clock.now()
            with frozen_heap():
                run0 = time.perf_counter()
                if slots(scenario.max_in_flight, scenario.size) > 1:
                    _start(rt, "fleet-first")  # the cascade starts the rest
                    _wait_idle(rt)
                else:  # back to back: the next starts the instant the previous one ends
                    for k in range(scenario.leakers):
                        _start(rt, f"one-at-a-time-{k:03d}")
                        _wait_idle(rt)
                run_seconds = time.perf_counter() - run0
            ended = rt.clock.now()
            timeline, meter.timeline = meter.timeline, None  # the bench's own reads below are not the run's calls
            assert timeline is not None
            measure0 = time.perf_counter()
            result = _throughput_result(scenario, rt, sim, built, leakers, timeline, started, ended)
            result["calls_by_step"] = _calls_by_step(meter)
        finally:
            meter.uninstall()
    result["wall_seconds"] = {"build": round(build_seconds, 2), "run": round(run_seconds, 2),
                              "measure": round(time.perf_counter() - measure0, 2),
                              "total": round(time.perf_counter() - wall0, 2)}
    return result


def _throughput_result(scenario: Throughput, rt: Any, sim: Any, built: Any, leakers: list[str],
                       timeline: CallTimeline, started: float, ended: float) -> dict[str, Any]:
    tg_arns = list(built.target_group_arns)
    histories = _histories(rt, ["remediate"])
    _record_transitions(timeline, histories)
    healed_at: dict[str, float | None] = {}
    for instance_id in leakers:
        instance = sim.instance(instance_id)
        registered = [r.registrations[-1].registered_at for r in instance.targets.values()
                      if len(r.registrations) > 1]
        healed_at[instance_id] = (healthy_everywhere_at(sim, instance_id, tg_arns, max(registered))
                                  if registered and instance.power.outages else None)
    threshold = float(Settings().group("ssm")["metric"]["threshold"])
    healed = [i for i, at in healed_at.items()
              if at is not None and (sim.memory_percent(i, at=at) or LEAK_TO) <= threshold]
    reboots = {i: len(sim.reboot_requests(i)) for i in leakers}
    others_rebooted = sum(1 for i in built.instance_ids if i not in reboots and sim.reboot_requests(i))
    # Each execution that took an instance out: start -> that instance healthy again everywhere.
    durations = []
    for _, history in histories:
        chosen = _selected(history)
        if chosen in healed_at and healed_at[chosen] is not None:
            # the history's timestamps are the virtual clock's (moto's startDate is the real one)
            durations.append(float(healed_at[chosen] or 0.0) - history[0]["timestamp"].timestamp())
    all_healed = max((at for at in healed_at.values() if at is not None), default=None)
    statuses = Counter(e["status"] for e, _ in histories)
    return {
        "key": scenario.key, "scenario": {"kind": "throughput", **asdict(scenario)},
        "slots": slots(scenario.max_in_flight, scenario.size),
        "leakers": len(leakers), "healed": len(healed), "reboots_per_leaker": sorted(set(reboots.values())),
        "others_rebooted": others_rebooted,
        "executions": dict(sorted(statuses.items())),
        "all_healed_seconds": round(all_healed - started, 1) if all_healed is not None else None,
        "all_finished_seconds": round(ended - started, 1),
        "remediation_seconds": _spread(durations),
        "capacity": _capacity(sim, built, scenario, started, ended),
        "api": _rates(timeline, started, ended),
        "lambda": _lambda(rt, len(healed)),
        "transitions": _transitions(histories, len(healed)),
        "audits": _audits(),
    }


def _spread(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median": None, "min": None, "max": None, "mean": None}
    return {"count": len(values), "median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1), "mean": round(statistics.fmean(values), 1)}


def _selected(history: list[dict[str, Any]]) -> str | None:
    for event in history:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Select the worst instance":
            output = json.loads(details.get("output") or "{}")
            chosen = (output.get("selection") or {}).get("instance_id")
            return str(chosen) if chosen else None
    return None


def run_steady(scenario: Steady) -> dict[str, Any]:
    wall0 = time.perf_counter()
    meter = ApiMeter(CallTimeline())
    with _runtime() as rt:
        meter.install(rt)
        try:
            sim, built = rt.add_fleet(steady_fleet(scenario))
            rt.declare_groups([built.group_declaration(**group_settings(scenario))])
            build_seconds = time.perf_counter() - wall0
            scheduler = rt.scheduler
            started = rt.clock.now()
            interval = 60.0 * scenario.sweep_minutes
            end = started + 3600.0 * scenario.hours
            with frozen_heap():
                run0 = time.perf_counter()
                scheduler.join()  # the schedule is a unit of its own: it sleeps in virtual time between sweeps
                try:
                    tick = 0
                    while started + tick * interval < end:
                        scheduler.sleep(started + tick * interval - rt.clock.now())
                        # EventBridge Scheduler's StartExecution of the sweep, as infra/template.yaml deploys it
                        rt.start({}, name=f"sweep-{tick:04d}", machine="sweep")
                        tick += 1
                    scheduler.sleep(end - rt.clock.now())
                    # Still a unit: the clock stands at the end while the run is measured.
                    run_seconds = time.perf_counter() - run0
                    timeline, meter.timeline = meter.timeline, None
                    assert timeline is not None
                    measure0 = time.perf_counter()
                    result = _steady_result(scenario, rt, sim, built, timeline, started, end, tick)
                    result["calls_by_step"] = _calls_by_step(meter)
                finally:
                    scheduler.leave()
        finally:
            meter.uninstall()
    result["wall_seconds"] = {"build": round(build_seconds, 2), "run": round(run_seconds, 2),
                              "measure": round(time.perf_counter() - measure0, 2),
                              "total": round(time.perf_counter() - wall0, 2)}
    return result


def _steady_result(scenario: Steady, rt: Any, sim: Any, built: Any, timeline: CallTimeline, started: float,
                   end: float, sweeps: int) -> dict[str, Any]:
    from nightshift.sim.power import REBOOT

    threshold = float(Settings().group("ssm")["metric"]["threshold"])
    steps = round((end - started) / SAMPLE_SECONDS)
    above = [time_above([sim.memory_percent(i, at=started + k * SAMPLE_SECONDS) for k in range(steps)], threshold,
                        SAMPLE_SECONDS) for i in built.instance_ids]
    episodes = [e for a in above for e in a.episodes]
    instance_seconds = scenario.size * (end - started)
    healed = sum(1 for i in built.instance_ids for o in sim.instance(i).power.outages
                 if o.kind == REBOOT and started <= o.up_at <= end)
    histories = _histories(rt, ["remediate", "sweep"])
    _record_transitions(timeline, [(e, [x for x in h if x["timestamp"].timestamp() <= end]) for e, h in histories])
    remediations = [(e, h) for e, h in histories if ":nightshift-remediate:" in e["executionArn"]]
    return {
        "key": scenario.key, "scenario": {"kind": "steady", **asdict(scenario)},
        "slots": slots(scenario.max_in_flight, scenario.size), "threshold": threshold, "sweeps": sweeps,
        "share_above_threshold": round(sum(a.seconds for a in above) / instance_seconds, 4),
        "above_episodes": {"count": len(episodes), **{k: v for k, v in _spread(episodes).items() if k != "count"}},
        "healed": healed,
        "executions": {"remediate": dict(sorted(Counter(e["status"] for e, _ in remediations).items())),
                       "sweep": dict(sorted(Counter(e["status"] for e, _ in histories
                                                    if ":nightshift-sweep:" in e["executionArn"]).items()))},
        "capacity": _capacity(sim, built, scenario, started, end),
        "api": _rates(timeline, started, end),
        "lambda": _lambda(rt, healed),
        "transitions": _transitions(histories, healed),
        "audits": _audits(),
    }


def run(scenario: Scenario) -> dict[str, Any]:
    return run_throughput(scenario) if isinstance(scenario, Throughput) else run_steady(scenario)


def _expected_cost(scenario: Scenario) -> float:
    """Rough real seconds, to start the long ones first."""
    if isinstance(scenario, Throughput):
        return scenario.leakers * (1 + scenario.size / 500)
    return scenario.size * scenario.hours * (3.0 if slots(scenario.max_in_flight, scenario.size) > 1 else 0.5)


def run_scenarios(scenarios: list[Scenario], workers: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    ordered = sorted(scenarios, key=_expected_cost, reverse=True)
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for scenario in ordered:
            results.append(run(scenario))
            say(f"  {scenario.key}: {results[-1]['wall_seconds']['total']:.0f} s")
        return results
    # spawn: each worker starts clean (moto patches boto and the runtime patches moto; no forked state)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run, scenario): scenario for scenario in ordered}
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results.append(result)
            say(f"  [{done}/{len(ordered)}] {futures[future].key}: {result['wall_seconds']['total']:.0f} s")
    return results


def profile(key: str, quick: bool, top: int = 40) -> int:
    """Run one scenario under cProfile in this process and print where the real time goes."""
    chosen = [s for s in plan(quick) if s.key == key]
    if not chosen:
        print(f"no scenario {key!r}; one of: " + ", ".join(s.key for s in plan(quick)), file=sys.stderr)
        return 2
    profiler = cProfile.Profile()
    profiler.enable()
    result = run(chosen[0])
    profiler.disable()
    print(json.dumps(result["wall_seconds"]))
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return 0


# -- the document -------------------------------------------------------------------------------------------

OUTPUT = "fleet-results"


def write(document: dict[str, Any], out: Path) -> Path:
    from bench import fleet_report

    suffix = "-quick" if document["mode"] == "quick" else ""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{OUTPUT}{suffix}.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    markdown = out / f"{OUTPUT}{suffix}.md"
    markdown.write_text(fleet_report.markdown(document))
    return markdown


def render(path: Path, out: Path) -> int:
    from bench import fleet_report

    document = json.loads(path.read_text())
    gates = checks.fleet(document["results"], gate_api=document["mode"] != "quick")
    document["checks"] = [c.as_dict() for c in gates]
    document["passed"] = all(c.passed for c in gates)
    write(document, out)
    print(fleet_report.summary(document))
    return 0 if document["passed"] else 1


def main(argv: list[str] | None = None) -> int:
    from bench import fleet_report, run

    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: A with N=100, K=5; B with N=30 over 4 h")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="scenarios run in parallel processes (default: min(2, nproc))")
    parser.add_argument("--out", type=Path, default=HERE, help="where the results files go (default: bench/)")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="rewrite the markdown from an earlier run's JSON, without running")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write results from a tree with uncommitted changes (marked as such)")
    parser.add_argument("--profile", metavar="KEY", help="run one scenario under cProfile and print the profile")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render, args.out)
    if args.profile:
        return profile(args.profile, args.quick)
    changed = run.uncommitted()
    if changed and not args.quick and not args.allow_dirty:
        print("bench.fleet: refusing to write results from a tree with uncommitted changes (results must name the "
              "commit they measured): " + ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
              + "\ncommit or stash them, or pass --allow-dirty to write results marked DIRTY", file=sys.stderr)
        return 2
    started = time.perf_counter()
    scenarios = plan(args.quick)
    print(f"nightshift fleet bench ({'quick' if args.quick else 'full'}): {len(scenarios)} scenarios on "
          f"{args.workers} worker(s)", flush=True)
    results = run_scenarios(scenarios, args.workers, lambda line: print(line, flush=True))
    results.sort(key=lambda r: r["key"])
    gates = checks.fleet(results, gate_api=not args.quick)
    wall = time.perf_counter() - started
    document = {"mode": "quick" if args.quick else "full", "machine": run.machine(), "wall_seconds": round(wall, 1),
                "settings": asdict(Settings()), "results": results, "checks": [c.as_dict() for c in gates],
                "passed": all(c.passed for c in gates)}
    markdown = write(document, args.out)
    print(fleet_report.summary(document))
    failed = [c for c in gates if not c.passed]
    for check in failed:
        print(f"FAILED: {check.name}: {check.measured} (needs {check.limit})")
    print(f"{'all checks passed' if not failed else f'{len(failed)} check(s) failed'}; wall time {wall:.0f} s; "
          f"wrote {markdown}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
