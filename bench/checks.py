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
