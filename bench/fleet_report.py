"""Turn one fleet bench run (bench/fleet.py's document) into bench/fleet-results.md and a console summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench import checks

TIMES = "\u00d7"


def _find(results: list[dict[str, Any]], kind: str, concurrent: bool) -> dict[str, Any] | None:
    return next((r for r in results if r["scenario"]["kind"] == kind and (r["slots"] > 1) == concurrent), None)


def _n(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7200:
        return f"{seconds:,.0f} s ({seconds / 60:.1f} min)"
    return f"{seconds:,.0f} s ({seconds / 3600:.2f} h)"


def _mode(r: dict[str, Any]) -> str:
    mif = r["scenario"]["max_in_flight"]
    if r["slots"] > 1:
        return f"concurrent: max_in_flight {mif} = {r['slots']} slots"
    return "one at a time: max_in_flight 1"


def _worst(r: dict[str, Any]) -> str:
    worst = r["api"]["worst"]
    if worst is None:
        return "—"
    return f"{worst['operation']}: {worst['percent_of_limit']:.0f} % ({worst['window_seconds']:g} s window)"


def _capacity(r: dict[str, Any]) -> str:
    c = r["capacity"]
    per_tg = ", ".join(f"{tg} {n}" for tg, n in c["lowest_healthy"].items())
    return f"{per_tg} of {c['registered']:,} (minimum {c['floor']:,})"


Cell = Callable[[dict[str, Any]], str]


def _row(label: str, cell: Cell, serial: dict[str, Any], concurrent: dict[str, Any]) -> tuple[str, str, str]:
    return label, cell(serial), cell(concurrent)


def _side_by_side(rows: list[tuple[str, str, str]], serial: dict[str, Any], concurrent: dict[str, Any]) -> list[str]:
    lines = [f"| | {_mode(serial)} | {_mode(concurrent)} |", "|---|---:|---:|"]
    lines += [f"| {label} | {a} | {b} |" for label, a, b in rows]
    return lines


def _common_rows(serial: dict[str, Any], concurrent: dict[str, Any]) -> list[tuple[str, str, str]]:
    cells: list[tuple[str, Cell]] = [
        ("fewest healthy targets at any instant (per target group)", _capacity),
        ("most instances out of service at once",
         lambda r: f"{r['capacity']['most_out_of_service']} (max_in_flight {r['capacity']['max_in_flight_slots']})"),
        ("Lambda invocations per healed instance", lambda r: _n(r["lambda"]["per_healed"]["invocations"])),
        ("Lambda seconds per healed instance: handler CPU (wall)",
         lambda r: f"{r['lambda']['per_healed']['cpu_seconds']:.2f} s "
                   f"({r['lambda']['per_healed']['wall_seconds']:.2f} s)"),
        ("state transitions per healed instance (billed, all executions)",
         lambda r: f"{r['transitions']['per_healed']:.1f} ({r['transitions']['billed']:,} in "
                   f"{r['transitions']['executions']} executions)"),
        ("busiest API against its documented limit", _worst),
        ("real wall time of the run (build + run + measure)",
         lambda r: f"{r['wall_seconds']['total']:.0f} s ({r['wall_seconds']['build']:.0f} + "
                   f"{r['wall_seconds']['run']:.0f} + {r['wall_seconds']['measure']:.0f})"),
    ]
    return [_row(label, cell, serial, concurrent) for label, cell in cells]


def _throughput_section(serial: dict[str, Any], concurrent: dict[str, Any]) -> list[str]:
    s = concurrent["scenario"]
    one = serial["remediation_seconds"]
    ratio = checks.fleet_time_ratio(concurrent, serial)
    hourly = None
    if one["median"] is not None:
        from bench.fleet import hourly_sweep_hours

        hourly = hourly_sweep_hours(s["leakers"], float(one["median"]))
    rows: list[tuple[str, str, str]] = [
        ("leakers healed (rebooted once each; nothing else rebooted)",
         f"{serial['healed']} of {serial['leakers']}", f"{concurrent['healed']} of {concurrent['leakers']}"),
        ("**time until every leaker is healed** (first start → last one healthy in both target groups)",
         f"**{_duration(serial['all_healed_seconds'])}**", f"**{_duration(concurrent['all_healed_seconds'])}**"),
        (f"… as a multiple of one remediation's time ({_duration(one['median'])}, the median below)",
         f"{_n(checks._ratio(serial['all_healed_seconds'], one['median']), 1)}{TIMES}",
         f"**{_n(ratio, 2)}{TIMES}** (target ≤ {checks.MAX_FLEET_TIME_RATIO:g}{TIMES})"),
        _row("one remediation: start → its instance healthy everywhere, median (min-max)",
             lambda r: f"{_n(r['remediation_seconds']['median'])} s ({_n(r['remediation_seconds']['min'])}-"
                       f"{_n(r['remediation_seconds']['max'])})", serial, concurrent),
        _row("executions (status)", lambda r: ", ".join(f"{n} {k}" for k, n in r["executions"].items()),
             serial, concurrent),
        *_common_rows(serial, concurrent),
    ]
    lines = [
        f"## A. Throughput: {s['leakers']} leakers in a group of {s['size']:,} (3 AZs, 2 target groups)",
        "",
        f"{s['leakers']} instances (seeded, spread over the fleet) sit at 85 % memory against a 65 % threshold; the "
        "rest are quiet. **Concurrent**: one start (a person's `nightshift remediate`, or the sweep's child) with "
        f"`max_in_flight` \"{s['max_in_flight']}\"; the cascade starts the rest. **One at a time**: `max_in_flight` 1, "
        "each remediation started the instant the previous one ended. That is the best today's design can do: "
        "nothing in it starts the next one by itself, so in production each waits for a trigger. "
        + (f"With the sweep alone at the template's default rate (`SweepSchedule` `rate(1 hour)`), one leaker is "
           f"healed per sweep: **{hourly:.0f}-{hourly + 1:.0f} hours** for {s['leakers']} ({s['leakers'] - 1} hours "
           "between the first sweep and the last, plus a remediation, plus up to an hour until the first sweep)."
           if hourly is not None else ""),
        "",
        *_side_by_side(rows, serial, concurrent),
        "",
    ]
    return lines


def _steady_section(serial: dict[str, Any], concurrent: dict[str, Any]) -> list[str]:
    s = concurrent["scenario"]
    low, high = s["cycle_hours"]
    rows: list[tuple[str, str, str]] = [
        _row("**share of instance-time above the threshold**", lambda r: f"**{r['share_above_threshold']:.1%}**",
             serial, concurrent),
        _row("stretches above the threshold: count, median (longest)",
             lambda r: f"{r['above_episodes']['count']}, {_duration(r['above_episodes']['median'])} "
                       f"({_duration(r['above_episodes']['max'])})", serial, concurrent),
        _row("instances healed (reboots completed in the window)", lambda r: str(r["healed"]), serial, concurrent),
        _row("remediate executions (status at the end)",
             lambda r: ", ".join(f"{n} {k}" for k, n in r["executions"]["remediate"].items()), serial, concurrent),
        _row("sweeps started", lambda r: str(r["sweeps"]), serial, concurrent),
        *_common_rows(serial, concurrent),
    ]
    return [
        f"## B. Steady state: {s['size']} instances, each leaking past the threshold every {low:g}-{high:g} hours, "
        f"{s['hours']:g} simulated hours",
        "",
        f"Every instance's memory climbs linearly from its base level (40 % -10/+15, seeded) to 85 %, crossing the "
        f"65 % threshold {low:g}-{high:g} hours after each boot (seeded per instance), and the fleet starts in steady "
        "state: each instance at a random point of its cycle (`InstanceSpec.leak_elapsed_at_build`). A reboot starts "
        f"the climb again. Triggered as in production: the **sweep state machine every {s['sweep_minutes']} minutes** "
        "of virtual time (EventBridge Scheduler's StartExecution; the template's default is `rate(1 hour)`, a "
        "quarter of an hour is our choice for a fleet this leaky), and the cascade where max_in_flight > 1. Time "
        f"above the threshold is read from the simulator every {_n(10.0, 0)} s of virtual time (an instance that is "
        "down counts as not above).",
        "",
        *_side_by_side(rows, serial, concurrent),
        "",
    ]


def _rate_lines(r: dict[str, Any]) -> list[str]:
    lines = ["| API | calls | mean / min | peak / 1 s | peak / 10 s | peak / 60 s | documented limit | "
             "% of limit (window) | % at 1 s / 10 s / 60 s | throttled (replay) |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for row in r["api"]["rows"]:
        if row["documented_rate"] is None:
            limit, percent, windows, throttled = "not documented", "—", "—", "—"
        else:
            limit = (f"{row['documented_rate']:g}/s" if row["burst"] is None
                     else f"{row['documented_rate']:g}/s, bucket {row['burst']:g}")
            share = row["percent_of_limit"]
            flag = " **over 50 %**" if share > checks.MAX_API_PERCENT else ""
            percent = f"{share:.1f} % ({row['window_seconds']:g} s){flag}"
            windows = " / ".join(f"{v:.0f}" for v in (row.get("percent_by_window") or {}).values())
            throttled = str(row["throttled"])
        lines.append(f"| {row['operation']} | {row['calls']:,} | {row['mean_per_minute']:,.1f} | "
                     f"{row['peak_per_second']} | {row['peak_per_10_seconds']} | {row['peak_per_minute']} | {limit} | "
                     f"{percent} | {windows} | {throttled} |")
    return lines


def _members(r: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """The operations a rate row counts: itself, or a shared bucket's members (named in its note)."""
    note = row.get("note") or ""
    if "Operations: " in note:
        return [op.strip() for op in note.split("Operations: ", 1)[1].rstrip(".").split(",")]
    return [row["operation"]]


def _over_target(r: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for row in r["api"]["rows"]
            if row["percent_of_limit"] is not None and row["percent_of_limit"] > checks.MAX_API_PERCENT]


def _by_step_lines(r: dict[str, Any]) -> list[str]:
    """Calls per healed instance, by step, of every operation behind a row above the target (else the busiest)."""
    rows = _over_target(r) or ([r["api"]["worst"]] if r["api"]["worst"] else [])
    operations = sorted({op for row in rows for op in _members(r, row)})
    healed = max(r["healed"], 1)
    if not operations:
        return []
    lines = ["| step | " + " | ".join(op for op in operations) + " | total |",
             "|---|" + "---:|" * (len(operations) + 1)]
    for step, ops in r["calls_by_step"].items():
        counts = [ops.get(op, 0) for op in operations]
        if sum(counts):
            lines.append(f"| {step} | " + " | ".join(f"{n / healed:.1f}" for n in counts)
                         + f" | {sum(counts) / healed:.1f} |")
    return lines


def _api_section(title: str, serial: dict[str, Any], concurrent: dict[str, Any]) -> list[str]:
    lines = [f"### {title}: AWS calls against the documented limits", ""]
    for r in (concurrent, serial):
        lines += [f"**{_mode(r)}** (calls from the first start to the end; every API the run called, Step Functions' "
                  "own calls and billed state transitions included)", "", *_rate_lines(r), ""]
        by_step = _by_step_lines(r)
        if by_step:
            over = _over_target(r)
            what = (f"the {len(over)} rows above {checks.MAX_API_PERCENT:g} %" if over
                    else f"the busiest row ({r['api']['worst']['operation']})")
            lines += [f"Where the calls of {what} come from, per healed instance (\"(state machine)\": calls the "
                      "Step Functions engine makes itself; \"(outside)\": the schedule's and the bench's own):", "",
                      *by_step, ""]
    return lines


def _checks_lines(document: dict[str, Any]) -> list[str]:
    lines = ["| check | measured | needs | |", "|---|---|---|---|"]
    for c in document["checks"]:
        lines.append(f"| {c['name']} | {c['measured']} | {c['limit']} | {'pass' if c['passed'] else '**FAIL**'} |")
    return lines


METHOD = """\
* **The real thing, locally.** The remediate and sweep state machines (statemachine/*.asl.json) run in moto's Step
  Functions engine with the real handlers (steps/), against the fleet simulator (nightshift/sim/), as `make demo`
  and the workflow tests do. Nothing is mocked in the steps.
* **Discrete-event time** (`LocalRuntime(scheduled=True)`, nightshift/runtime/scheduler.py). Each execution is one
  unit; a Wait, a Retry back-off or a Lambda step parks it until the virtual clock reaches its wake instant, and the
  clock moves only when no execution can run. So concurrent executions wait *at the same time*. (Without it, every
  wait moves the one clock by its own length: four concurrent remediations took 3.2x one.) No real sleeps.
* **A Lambda step lasts its handler's CPU time** on this machine (moto's in-process answers to its AWS calls
  included): the handlers of concurrent executions share one interpreter here, so their wall time grows with how
  many run at once (the "wall" figures) while each would have a Lambda of its own on AWS. AWS's network latency is
  not modelled: every AWS call a step makes falls on the instant the step started, so **peaks over 1 s are an upper
  bound** (a real Lambda spreads its calls over its run time, tens of milliseconds each); the 10 s and 60 s peaks
  are not affected.
* **% of limit** (nightshift/sim/call_rate.py): the largest, over windows of 1, 10 and 60 s, of the peak calls in
  the window against what a full token bucket admits in it (bucket + refill x window; a flat TPS limit: TPS x
  window). **throttled (replay)**: the calls a full bucket that nobody else drew from would have refused. The
  simulator throttles nothing, so every run completes as if AWS had admitted every call; a throttled call would
  be retried (AwsThrottled, with back-off) and the remediation slowed, not failed. Limits: nightshift/sim/
  api_limits.py (docs/aws-behaviour.md, "API rate limits"), per account and Region, shared with everything else
  the account runs.
* **Healed**: the instance rebooted and healthy again in both target groups (the simulator's target health, not
  Nightshift's word), its memory back under the threshold. **The minimum** is the group's floor,
  `max(min_healthy, ceil(min_healthy_percent x registered))` in each target group; **fewest healthy** is the
  simulator's capacity timeline (every instant a target's state changed).
* **Lambda seconds** are the handlers' CPU time (the wall time, inflated by sharing one interpreter, in brackets);
  **state transitions** are the billed ones (every state entered, retries included) of every execution the run
  started, cascade starts that found nothing to do included (they cost transitions too).
"""


def markdown(document: dict[str, Any]) -> str:
    results = document["results"]
    machine = document["machine"]
    quick = document["mode"] == "quick"
    dirty = " **(DIRTY: uncommitted changes in the tree; not results of record)**" \
        if machine.get("uncommitted_changes_in_code") else ""
    lines = [
        "# Fleet throughput: several remediations at once (issue 17)" + (" — quick form" if quick else ""),
        "",
        f"Generated by `python -m bench.fleet{' --quick' if quick else ''}` (`make bench-fleet"
        f"{'-quick' if quick else ''}`) on {machine['date']} at commit `{machine['commit']}`{dirty}; "
        f"{machine['nproc']} CPUs ({machine['cpu']}), Python {machine['python']}. Real wall time of the whole run: "
        f"**{document['wall_seconds']:.0f} s**. Raw numbers: bench/fleet-results{'-quick' if quick else ''}.json.",
        "",
    ]
    if quick:
        lines += ["The quick form (CI) runs the same scenarios smaller; the figures of record are the full run's "
                  "(bench/fleet-results.md). It does not gate the API rates (see the checks).", ""]
    serial, concurrent = _find(results, "throughput", False), _find(results, "throughput", True)
    if serial and concurrent:
        lines += _throughput_section(serial, concurrent)
        lines += _api_section("A", serial, concurrent)
    serial_b, concurrent_b = _find(results, "steady", False), _find(results, "steady", True)
    if serial_b and concurrent_b:
        lines += _steady_section(serial_b, concurrent_b)
        lines += _api_section("B", serial_b, concurrent_b)
    lines += ["## Checks", "", *_checks_lines(document), "", "## Settings", "",
              "The bench's group (bench/scenarios.py `Settings`, drain signal ssm); each scenario's two runs declare "
              "exactly this but `max_in_flight`.", ""]
    for r in (concurrent, concurrent_b):
        if r is not None:
            from bench.fleet import Steady, Throughput, group_settings

            scenario = {k: v for k, v in r["scenario"].items() if k != "kind"}
            made = (Throughput(**scenario) if r["scenario"]["kind"] == "throughput"
                    else Steady(**{**scenario, "cycle_hours": tuple(scenario["cycle_hours"])}))
            lines += [f"{r['scenario']['kind']}:", "", "```json", json.dumps(group_settings(made), indent=1), "```",
                      ""]
    lines += ["## Method", "", METHOD]
    return "\n".join(lines)


def summary(document: dict[str, Any]) -> str:
    results = document["results"]
    lines = [""]
    serial, concurrent = _find(results, "throughput", False), _find(results, "throughput", True)
    if serial and concurrent:
        ratio = checks.fleet_time_ratio(concurrent, serial)
        one = serial["remediation_seconds"]["median"]
        lines.append(f"A (N={concurrent['scenario']['size']}, K={concurrent['scenario']['leakers']}): all healed in "
                     f"{_duration(concurrent['all_healed_seconds'])} concurrent ({_n(ratio, 2)}x one remediation of "
                     f"{_duration(one)}) vs {_duration(serial['all_healed_seconds'])} one at a time; fewest healthy "
                     f"{concurrent['capacity']['lowest']} / {serial['capacity']['lowest']} (minimum "
                     f"{concurrent['capacity']['floor']}); busiest API {_worst(concurrent)} / {_worst(serial)}")
    serial_b, concurrent_b = _find(results, "steady", False), _find(results, "steady", True)
    if serial_b and concurrent_b:
        lines.append(f"B (N={concurrent_b['scenario']['size']}, {concurrent_b['scenario']['hours']:g} h): above the "
                     f"threshold {concurrent_b['share_above_threshold']:.1%} concurrent vs "
                     f"{serial_b['share_above_threshold']:.1%} one at a time; fewest healthy "
                     f"{concurrent_b['capacity']['lowest']} / {serial_b['capacity']['lowest']} (minimum "
                     f"{concurrent_b['capacity']['floor']}); busiest API {_worst(concurrent_b)} / {_worst(serial_b)}")
    return "\n".join(lines)
