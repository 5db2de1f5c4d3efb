"""The ratios the benchmark guards (issue #8). Pure functions over the results of one run: every ratio is
measured within that run, never against a stored number, so a slower machine cannot fail them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

GATED_SIGNALS = ("ssm",)
MAX_TIME_RATIO = 1.15
MIN_BASELINE_TIME_RATIO = 2.0
MIN_LAMBDA_RATIO = 50.0
MIN_SELECTION_RATIO_1000 = 100.0
MIN_SELECTION_RATIO_100 = 10.0
MAX_SELECTION_CALLS_1000 = 8
MAX_SELECTION_CPU_5000 = 1.0
GETMETRICDATA_BATCH = 500
# Bookkeeping writes of the select step (lifecycle record, audit entry) are not "calls made to select".
SELECTION_READS = ("elbv2.", "cloudwatch.", "ec2.", "autoscaling.")


@dataclass(frozen=True)
class Check:
    name: str
    measured: str
    limit: str
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def selection_reads(result: dict[str, Any]) -> int:
    """AWS API calls the selection made to decide (DynamoDB bookkeeping excluded)."""
    return sum(n for op, n in result["selection_calls"].items() if op.startswith(SELECTION_READS))


def allowed_selection_calls(size: int, target_groups: int = 2) -> int:
    """One DescribeTargetHealth per target group (it does not paginate) + discovery (one ListMetrics per
    instance up to steps.aws.cloudwatch.SMALL_GROUP instances, else one page per 500 series: the bench's
    agent publishes one series per instance) + one GetMetricData per 500 + one DescribeAutoScalingInstances
    for the chosen candidate (is it InService in its ASG?)."""
    from steps.aws.cloudwatch import SMALL_GROUP

    discovery = size if size <= SMALL_GROUP else math.ceil(size / GETMETRICDATA_BATCH)
    return target_groups + discovery + math.ceil(size / GETMETRICDATA_BATCH) + 1


def _find(results: list[dict[str, Any]], kind: str, **where: Any) -> list[dict[str, Any]]:
    found = []
    for r in results:
        s = r["scenario"]
        if s["kind"] != kind or s.get("label"):
            continue
        if all(s.get(k) == v for k, v in where.items()):
            found.append(r)
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _fmt(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def correctness(results: list[dict[str, Any]]) -> list[Check]:
    checks = []
    for r in results:
        if r["scenario"]["kind"] == "nightshift":
            ok = r["status"] == "SUCCEEDED" and r["selected_correctly"]
            checks.append(Check(f"{r['key']}: succeeded and healed the leaking instance",
                                f"{r['status']}, selected {r['selected']}", f"SUCCEEDED, {r['leaker']}", ok))
            if r["scenario"]["signal"] in GATED_SIGNALS:
                cut = r.get("connections_at_reboot")
                checks.append(Check(f"{r['key']}: no request cut by the reboot",
                                    f"{cut} connection(s) open when the OS went down", "0", cut == 0))
        else:
            checks.append(Check(f"{r['key']}: the baseline picked the leaking instance",
                                str(r["selected"]), str(r["leaker"]), bool(r["selected_correctly"])))
    return checks


def selection_scaling(results: list[dict[str, Any]]) -> list[Check]:
    checks = []
    for r in _find(results, "nightshift", delay=300, inflight=0.0, signal="ssm"):
        size = r["scenario"]["size"]
        calls = selection_reads(r)
        limit = allowed_selection_calls(size)
        checks.append(Check(f"N={size}: Nightshift selection calls <= target groups + 2 x ceil(N/500) + 1",
                            str(calls), f"<= {limit}", calls <= limit))
        if size == 5000:
            # Its own CPU: the simulator and moto answer AWS calls on the same thread, and what they spend is
            # AWS's servers' work, not the Lambda's.
            cpu = r.get("selection_own_cpu_seconds", r["selection_cpu_seconds"])
            checks.append(Check("N=5000: Nightshift selection CPU (handler thread, AWS answers excluded)",
                                f"{cpu:.3f} s",
                                f"< {MAX_SELECTION_CPU_5000} s", cpu < MAX_SELECTION_CPU_5000))
        for base in _find(results, "baseline", size=size, delay=300, inflight=0.0):
            ratio = _ratio(selection_reads(base), calls)
            if size == 1000:
                checks.append(Check("N=1000: Nightshift selection calls", str(calls),
                                    f"<= {MAX_SELECTION_CALLS_1000}", calls <= MAX_SELECTION_CALLS_1000))
                checks.append(Check("N=1000: baseline / Nightshift selection calls", _fmt(ratio),
                                    f">= {MIN_SELECTION_RATIO_1000:g}x",
                                    ratio is not None and ratio >= MIN_SELECTION_RATIO_1000))
            if size == 100:
                checks.append(Check("N=100: baseline / Nightshift selection calls", _fmt(ratio),
                                    f">= {MIN_SELECTION_RATIO_100:g}x",
                                    ratio is not None and ratio >= MIN_SELECTION_RATIO_100))
    return checks


def lambda_seconds(results: list[dict[str, Any]], size: int) -> list[Check]:
    checks = []
    for r in _find(results, "nightshift", size=size):
        s = r["scenario"]
        for base in _find(results, "baseline", size=size, delay=s["delay"], inflight=s["inflight"]):
            ratio = _ratio(base["lambda_seconds"], r["lambda_seconds"])
            checks.append(Check(f"N={size} delay={s['delay']} inflight={s['inflight']:g} {s['signal']}: "
                                "baseline / Nightshift Lambda seconds",
                                f"{_fmt(ratio)} ({base['lambda_seconds']:.1f} s / {r['lambda_seconds']:.2f} s)",
                                f">= {MIN_LAMBDA_RATIO:g}x", ratio is not None and ratio >= MIN_LAMBDA_RATIO))
    return checks


def remediation_time(results: list[dict[str, Any]], size: int, baseline_delays: tuple[int, ...] = (300,),
                     ) -> list[Check]:
    checks = []
    for r in _find(results, "nightshift", size=size):
        s = r["scenario"]
        if s["signal"] not in GATED_SIGNALS:
            continue
        ratio = r["ratio"]
        checks.append(Check(f"N={size} delay={s['delay']} inflight={s['inflight']:g} {s['signal']}: "
                            "Nightshift time / physical limit",
                            f"{_fmt(ratio, 3)} ({_fmt(r['remediation_seconds'])} s / {_fmt(r['physical_seconds'])} s)",
                            f"<= {MAX_TIME_RATIO}", ratio is not None and ratio <= MAX_TIME_RATIO))
    for base in _find(results, "baseline", size=size, inflight=0.0):
        delay = base["scenario"]["delay"]
        if delay not in baseline_delays:
            continue
        ratio = base["ratio"]
        took, limit = _fmt(base["remediation_seconds"]), _fmt(base["physical_seconds"])
        measured = ("cannot complete (killed at 15 min)" if base["killed"]
                    else f"{_fmt(ratio, 2)} ({took} s / {limit} s)")
        # A baseline that cannot finish at all is infinitely slower than the physical limit.
        ok = base["killed"] or (ratio is not None and ratio >= MIN_BASELINE_TIME_RATIO)
        checks.append(Check(f"N={size} delay={delay} inflight=0: baseline time / physical limit", measured,
                            f">= {MIN_BASELINE_TIME_RATIO:g}", ok))
    return checks


def full(results: list[dict[str, Any]]) -> list[Check]:
    return (correctness(results) + selection_scaling(results) + lambda_seconds(results, 1000)
            + remediation_time(results, 1000, baseline_delays=(300, 3600)))


def quick(results: list[dict[str, Any]]) -> list[Check]:
    checks = correctness(results) + selection_scaling(results)
    for size in sorted({r["scenario"]["size"] for r in results}):
        checks += lambda_seconds(results, size) + remediation_time(results, size)
    return checks


# -- the fleet bench (bench/fleet.py, issue 17) ------------------------------------------------------------

MAX_FLEET_TIME_RATIO = 3.0  # every leaker healed within 3x one remediation's time
MAX_API_PERCENT = 50.0  # no API above half its documented rate limit


def _fleet_find(results: list[dict[str, Any]], kind: str, concurrent: bool) -> list[dict[str, Any]]:
    return [r for r in results if r["scenario"]["kind"] == kind and (r["slots"] > 1) == concurrent]


def fleet_time_ratio(concurrent: dict[str, Any], one_at_a_time: dict[str, Any]) -> float | None:
    """Time until every leaker is healed, concurrent, over one remediation's time (the median of the one-at-a-time
    run's remediations, from its start to its instance healthy again in every target group)."""
    return _ratio(concurrent["all_healed_seconds"], one_at_a_time["remediation_seconds"]["median"])


def _capacity_checks(r: dict[str, Any]) -> list[Check]:
    capacity = r["capacity"]
    lowest, floor = capacity["lowest"], capacity["floor"]
    out = [Check(f"{r['key']}: fewest healthy targets at any instant >= the group's minimum",
                 f"{lowest} (per target group: {capacity['lowest_healthy']})", f">= {floor}",
                 lowest is not None and lowest >= floor)]
    most, allowed = capacity["most_out_of_service"], capacity["max_in_flight_slots"]
    out.append(Check(f"{r['key']}: most instances out of service at once <= max_in_flight",
                     str(most), f"<= {allowed}", most <= allowed))
    return out


def _api_check(r: dict[str, Any]) -> Check:
    worst = r["api"]["worst"]
    if worst is None:
        return Check(f"{r['key']}: every API <= {MAX_API_PERCENT:g} % of its documented limit", "no documented API",
                     f"<= {MAX_API_PERCENT:g} %", True)
    over = [f"{row['operation']} {row['percent_of_limit']:.1f} %" for row in r["api"]["rows"]
            if row["percent_of_limit"] is not None and row["percent_of_limit"] > MAX_API_PERCENT]
    measured = f"worst {worst['operation']} {worst['percent_of_limit']:.1f} % ({worst['window_seconds']:g} s window)"
    if over:
        measured += "; above: " + ", ".join(over)
    return Check(f"{r['key']}: every API <= {MAX_API_PERCENT:g} % of its documented limit", measured,
                 f"<= {MAX_API_PERCENT:g} %", not over)


def fleet(results: list[dict[str, Any]], gate_api: bool = True) -> list[Check]:
    """The fleet bench's targets (issue 17): every leaker healed within 3x one remediation's time, never below the
    group's minimum nor above max_in_flight out at once, no API above half its documented limit. ``gate_api``
    False (the quick form CI runs) leaves the API target to the full run: its small fleet still starts several
    remediations within a second, whose bursts the full run reports and the quick form would fail on."""
    out: list[Check] = []
    for r in _fleet_find(results, "throughput", True) + _fleet_find(results, "throughput", False):
        failed = {k: v for k, v in r["executions"].items() if k != "SUCCEEDED"}
        out.append(Check(f"{r['key']}: every leaker healed, rebooted once, nothing else touched, no execution failed",
                         f"{r['healed']} of {r['leakers']} healed, reboots per leaker {r['reboots_per_leaker']}, "
                         f"{r['others_rebooted']} others rebooted, executions {r['executions']}",
                         f"{r['leakers']} of {r['leakers']}, [1], 0, all SUCCEEDED",
                         r["healed"] == r["leakers"] and r["reboots_per_leaker"] == [1] and r["others_rebooted"] == 0
                         and not failed))
        out += _capacity_checks(r)
        if gate_api:
            out.append(_api_check(r))
    for concurrent in _fleet_find(results, "throughput", True):
        for serial in _fleet_find(results, "throughput", False):
            if serial["scenario"]["size"] != concurrent["scenario"]["size"]:
                continue
            ratio = fleet_time_ratio(concurrent, serial)
            out.append(Check(f"{concurrent['key']}: time until every leaker is healed / one remediation's time",
                             f"{_fmt(ratio, 2)} ({_fmt(concurrent['all_healed_seconds'])} s / "
                             f"{_fmt(serial['remediation_seconds']['median'])} s)",
                             f"<= {MAX_FLEET_TIME_RATIO:g}", ratio is not None and ratio <= MAX_FLEET_TIME_RATIO))
    for r in _fleet_find(results, "steady", True) + _fleet_find(results, "steady", False):
        failed = {k: v for k, v in r["executions"]["remediate"].items() if k not in ("SUCCEEDED", "RUNNING")}
        out.append(Check(f"{r['key']}: no remediation failed", str(r["executions"]["remediate"]),
                         "SUCCEEDED (or still running at the end)", not failed))
        out += _capacity_checks(r)
        if gate_api:
            out.append(_api_check(r))
    for concurrent in _fleet_find(results, "steady", True):
        for serial in _fleet_find(results, "steady", False):
            if serial["scenario"]["size"] != concurrent["scenario"]["size"]:
                continue
            a, b = concurrent["share_above_threshold"], serial["share_above_threshold"]
            out.append(Check(f"{concurrent['key']}: share of instance-time above the threshold, concurrent < one at "
                             "a time", f"{a:.1%} < {b:.1%}", "less", a < b))
    return out
