"""`python -m bench.run [--quick]`: Nightshift against the seed's Lambda, on the same simulated fleets.

Full mode (``make bench``) writes bench/results.md, bench/results.json and bench/COST.md; ``--quick``
(CI: N = 10 and 100, one delay, two drain signals) writes bench/results-quick.{md,json}. Both exit 1 when a
guarded ratio regresses (see bench/checks.py); every ratio is measured within the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import checks, discovery, report
from bench.scenarios import Scenario, Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (10, 100, 1000, 5000)
QUICK_SIZES = (10, 100)
DELAYS = (30, 300, 3600)
INFLIGHT = (0.0, 40.0)
SIGNALS = ("target_state", "ssm")
TIMING_SIZE = 1000
SWEEP_SIZE = 100

# The trade-off sweep: the bench's settings and the variants an SRE would weigh (label -> changes).
SWEEP: dict[str, dict[str, Any]] = {
    "bench settings": {},
    "quiet_checks=2": {"drain_quiet_checks": 2},
    "boot poll 10 s": {"boot_poll_seconds": 10},
    "boot poll 3 s": {"boot_poll_seconds": 3},
    "health poll 5 s": {"health_poll_seconds": 5},
    "drain poll 10 s": {"drain_poll_seconds": 10},
    "poll 10 s, quiet_checks=2 (the demo's)": {"drain_poll_seconds": 10, "drain_quiet_checks": 2,
                                               "boot_poll_seconds": 10},
    "economy: polls 10/15/15 s, quiet_checks=2": {"drain_poll_seconds": 10, "drain_quiet_checks": 2,
                                                 "boot_poll_seconds": 15, "health_poll_seconds": 15},
}


# Metric timing (labels start with TIMING): the agent's memory interval and CloudWatch's ingestion delay, with the
# ssm drain signal (no drain signal reads a metric any more: only selection does).
TIMING = report.TIMING_LABEL
TIMING_VARIANTS: dict[str, dict[str, Any]] = {
    "memory 60 s standard, ingestion 0 s": {"ingestion_delay_seconds": 0},
    "memory 60 s standard, ingestion 60 s": {},
    "memory 60 s standard, ingestion 120 s": {"ingestion_delay_seconds": 120},
    "memory 10 s high-resolution, ingestion 60 s": {"memory_interval_seconds": 10},
}


def timing_scenarios() -> list[Scenario]:
    return [Scenario("nightshift", SWEEP_SIZE, 300, 0.0, signal, replace(Settings(), **changes), TIMING + label)
            for label, changes in TIMING_VARIANTS.items() for signal in ("ssm",)]


def plan(quick: bool) -> list[Scenario]:
    scenarios: dict[str, Scenario] = {}

    def add(scenario: Scenario) -> None:
        scenarios.setdefault(scenario.key, scenario)

    if quick:
        for size in QUICK_SIZES:
            add(Scenario("baseline", size, 300, 0.0))
            for signal in ("ssm", "target_state"):
                add(Scenario("nightshift", size, 300, 0.0, signal))
        return list(scenarios.values())
    for size in SIZES:  # selection at scale, the default signal, AWS's default delay
        add(Scenario("baseline", size, 300, 0.0))
        add(Scenario("nightshift", size, 300, 0.0, "ssm"))
    for delay in DELAYS:  # remediation time vs the physical limit
        for inflight in INFLIGHT:
            add(Scenario("baseline", TIMING_SIZE, delay, inflight))
            for signal in SIGNALS:
                add(Scenario("nightshift", TIMING_SIZE, delay, inflight, signal))
    for label, changes in SWEEP.items():  # the trade-off between state transitions and time
        if changes:
            settings = replace(Settings(), **changes)
            add(Scenario("nightshift", SWEEP_SIZE, 300, 0.0, "ssm", settings, label))
    add(Scenario("nightshift", SWEEP_SIZE, 300, 0.0, "ssm"))
    # The simulator's 5 s queue + 60 s boot + 1 s command puts the boot proof at 66 s, which a 5 s and a 10 s
    # poll both first see at 70 s: a 57 s boot (proof at 63 s) shows what the slower poll costs otherwise.
    add(Scenario("nightshift", SWEEP_SIZE, 300, 0.0, "ssm", Settings(), "bench settings, 57 s boot",
                 boot_seconds=57.0))
    add(Scenario("nightshift", SWEEP_SIZE, 300, 0.0, "ssm",
                 replace(Settings(), boot_poll_seconds=10), "boot poll 10 s, 57 s boot", boot_seconds=57.0))
    for scenario in timing_scenarios():
        add(scenario)
    return list(scenarios.values())


def _expected_cost(scenario: Scenario) -> float:
    """Rough real seconds, to start the long ones first (the baseline is O(N^2) in moto at large N)."""
    if scenario.kind == "baseline":
        return 1 + scenario.size * scenario.size / 350_000
    return 3 + scenario.size / 2500


def _run_one(scenario: Scenario) -> dict[str, Any]:
    from bench.scenarios import run

    return run(scenario)


def run_scenarios(scenarios: list[Scenario], workers: int, say: Any) -> list[dict[str, Any]]:
    ordered = sorted(scenarios, key=_expected_cost, reverse=True)
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for scenario in ordered:
            results.append(_run_one(scenario))
            say(f"  {scenario.key}: {results[-1]['status']}")
        return results
    # spawn: each worker starts clean (moto patches boto and the runtime patches moto; no forked state)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_one, scenario): scenario for scenario in ordered}
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results.append(result)
            say(f"  [{done}/{len(ordered)}] {futures[future].key}: {result['status']} "
                f"({result['wall_seconds']['total']:.1f} s)")
    return results


FLOOR = "floor (libraries every handler needs)"
IMPORT_SNIPPET = "import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"


def cold_imports(repetitions: int) -> dict[str, dict[str, Any]]:
    """Each handler module imported in a fresh interpreter (what a Lambda cold start pays before the handler)."""
    from nightshift.functions import STEP_FUNCTIONS

    modules = {f"nightshift-{f.name}": f"steps.{f.module}" for f in STEP_FUNCTIONS}
    modules["baseline (seed)"] = "bench.baseline_seed"
    modules[FLOOR] = "bench.library_floor"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    out: dict[str, dict[str, Any]] = {}
    for function, module in modules.items():
        samples = []
        for _ in range(repetitions):
            done = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET.format(module=module)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=True)
            samples.append(float(done.stdout.strip().splitlines()[-1]))
        out[function] = {"module": module, "median_seconds": round(statistics.median(samples), 4),
                         "samples": [round(s, 4) for s in samples]}
    return out


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = _git("rev-parse", "--short", "HEAD")
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit, "uncommitted_changes_in_code": bool(uncommitted())}


# The bench's own outputs may differ from the commit: they are what it writes.
OUTPUTS = (":!bench/results.json", ":!bench/results.md", ":!bench/COST.md", ":!bench/results-quick.*",
           ":!bench/fleet-results.json", ":!bench/fleet-results.md", ":!bench/fleet-results-quick.*")


def uncommitted() -> list[str]:
    """Paths that differ from HEAD (untracked files included, ignored ones not), outside the bench's outputs."""
    listing = _git("status", "--porcelain", "--untracked-files=all", "--", ".", *OUTPUTS)
    return [line[3:] for line in listing.splitlines() if line.strip()]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write(document: dict[str, Any], out: Path) -> None:
    suffix = "-quick" if document["mode"] == "quick" else ""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results{suffix}.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    (out / f"results{suffix}.md").write_text(report.results_markdown(document))
    if not suffix:
        (out / "COST.md").write_text(report.cost_markdown(document))


def render(path: Path, out: Path) -> int:
    document = json.loads(path.read_text())
    gates = checks.quick(document["results"]) if document["mode"] == "quick" else checks.full(document["results"])
    document["checks"] = [c.as_dict() for c in gates]
    document["passed"] = all(c.passed for c in gates)
    document["costs"] = report.costs(document)
    write(document, out)
    print(report.summary_text(document))
    return 0 if document["passed"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: N=10,100, one delay, two signals")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="scenarios run in parallel processes (default: min(2, nproc))")
    parser.add_argument("--out", type=Path, default=HERE, help="where the results files go (default: bench/)")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="rewrite the markdown (and COST.md) from an earlier run's JSON, without running")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write results from a tree with uncommitted changes (marked as such in big letters)")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render, args.out)
    changed = uncommitted()
    if changed and not args.quick and not args.allow_dirty:
        print("bench: refusing to write results from a tree with uncommitted changes (results must name the "
              "commit they measured): " + ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
              + "\ncommit or stash them, or pass --allow-dirty to write results marked DIRTY", file=sys.stderr)
        return 2

    started = time.perf_counter()
    say = print
    scenarios = plan(args.quick)
    say(f"nightshift bench ({'quick' if args.quick else 'full'}): {len(scenarios)} scenarios on "
        f"{args.workers} worker(s)")
    results = run_scenarios(scenarios, args.workers, say)
    results.sort(key=lambda r: r["key"])
    say("discovery: ListMetrics + GetMetricData per selection vs N (simulator's tally)")
    discovered = discovery.measure(QUICK_SIZES if args.quick else SIZES)
    say("cold imports (fresh interpreter per handler module)")
    imports = cold_imports(1 if args.quick else 3)
    gates = checks.quick(results) if args.quick else checks.full(results)
    wall = time.perf_counter() - started
    document = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "wall_seconds": round(wall, 1),
        "settings": asdict(Settings()),
        "group_declaration": Settings().group("<signal>"),
        "results": results,
        "cold_imports": imports,
        "discovery": discovered,
        "checks": [c.as_dict() for c in gates],
        "passed": all(c.passed for c in gates),
    }
    document["costs"] = report.costs(document)
    suffix = "-quick" if args.quick else ""
    write(document, args.out)
    say(report.summary_text(document))
    failed = [c for c in gates if not c.passed]
    for check in failed:
        say(f"FAILED: {check.name}: {check.measured} (needs {check.limit})")
    say(f"{'all checks passed' if not failed else f'{len(failed)} check(s) failed'}; wall time {wall:.0f} s; "
        f"wrote {args.out / f'results{suffix}.md'}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
