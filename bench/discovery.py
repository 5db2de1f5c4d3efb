"""What finding each instance's series costs: ListMetrics discovery + GetMetricData per selection, vs N.

For each fleet size, on the simulator's default fleet (the agent's wizard dimensions, three instance types,
two AMIs) and on one whose agent also has ``aggregation_dimensions: [["InstanceId"]]`` (two series per
instance), the selection's read (``steps.aws.cloudwatch.discover_and_read``) runs once against the simulator;
calls are the simulator's own tally (``FleetSimulator.api_calls``), not an estimate. The account holds only
this fleet, so ListMetrics pages through exactly the fleet's series (see the README on larger accounts).
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.cost import PRICES

NAMESPACE = "CWAgent"
METRIC = "mem_used_percent"
MODES = {"wizard": False, "wizard + aggregation_dimensions [[InstanceId]]": True}


def measure_one(size: int, aggregate: bool) -> dict[str, Any]:
    from nightshift.runtime.runner import LocalRuntime
    from nightshift.sim import FleetSpec, InstanceSpec
    from steps.aws import cloudwatch

    with LocalRuntime(log_stream=io.StringIO()) as rt:
        spec = FleetSpec(name="web", size=size, aggregate_by_instance_id=aggregate,
                         leaking={min(5, size - 1): InstanceSpec(leak_to_percent=85.0)})
        sim, built = rt.add_fleet(spec)
        before = sim.api_calls()
        end = datetime.fromtimestamp(rt.clock.now(), UTC)
        queries = [cloudwatch.MetricQuery(i, NAMESPACE, METRIC, "Average", 60) for i in built.instance_ids]
        series, read = cloudwatch.discover_and_read(queries, end - timedelta(minutes=6), end)
        after = sim.api_calls()
    list_calls = after["cloudwatch.ListMetrics"] - before["cloudwatch.ListMetrics"]
    data_calls = after["cloudwatch.GetMetricData"] - before["cloudwatch.GetMetricData"]
    metrics = sum(len(sets) for sets in read.values())
    usd = list_calls * PRICES["cloudwatch_request"].usd + metrics * PRICES["getmetricdata_metric"].usd
    return {"size": size, "aggregate": aggregate, "series_in_account": size * (2 if aggregate else 1),
            "list_metrics_calls": list_calls, "expected_list_metrics_calls": math.ceil(size * (2 if aggregate else 1)
                                                                                      / 500),
            "get_metric_data_calls": data_calls, "metrics_requested": metrics,
            "instances_with_data": sum(1 for s in series.values() if s), "usd_per_selection": usd}


def measure(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    return [measure_one(size, aggregate) for size in sizes for aggregate in MODES.values()]


def section(rows: list[dict[str, Any]]) -> list[str]:
    """The README/results table: discovery calls and cost per selection vs N."""
    if not rows:
        return []
    lines = ["| N | agent | series | ListMetrics calls | GetMetricData calls | metrics requested | instances with "
             "data | CloudWatch $ per selection | per-instance ListMetrics instead |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    labels = {v: k for k, v in MODES.items()}
    for r in rows:
        lines.append(f"| {r['size']:,} | {labels[r['aggregate']]} | {r['series_in_account']:,} | "
                     f"**{r['list_metrics_calls']}** | {r['get_metric_data_calls']} | {r['metrics_requested']:,} | "
                     f"{r['instances_with_data']:,} | ${r['usd_per_selection']:.5f} | {r['size']:,} calls |")
    return lines
