"""CloudWatch GetMetricData for the CloudWatch agent metrics of the simulated instances.

The simulator owns ``CWAgent`` ``mem_used_percent`` (one datapoint a minute) and
``netstat_tcp_established`` (one every 10 s) per fleet instance. A query about a fleet instance (its
InstanceId dimension) reads a series only when its dimensions are exactly a set the instance's agent publishes
(agent_dimensions.py), as CloudWatch matches; otherwise it finds no datapoints. A batch that touches no fleet
instance passes through to moto.
Each metric's storage resolution follows from its collection interval (below 60 s: high resolution, as
the agent publishes it) and every sample is readable only ``FleetSpec.metric_ingestion_delay_seconds``
after it was collected (see nightshift/sim/metric_data.py).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import agent_dimensions
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.metric_data import (
    Series,
    instance_dimension,
    metric_data_result,
    validate_request,
    validate_stat,
)
from nightshift.sim.world import FleetWorld

SERVICE = "cloudwatch"
NAMESPACE = "CWAgent"
MEMORY = "mem_used_percent"
CONNECTIONS = "netstat_tcp_established"
# GetMetricData accepts these periods below a minute (high resolution), and multiples of 60 above.
_SUB_MINUTE_PERIODS = (1, 5, 10, 20, 30)


def install(sim: FleetWorld, interceptor: Interceptor) -> None:
    interceptor.answer(SERVICE, "GetMetricData", partial(get_metric_data, sim))
    agent_dimensions.install(sim, interceptor)


def _series(sim: FleetWorld, instance: SimulatedInstance, metric_name: str) -> Series:
    quiet = instance.quiet()
    if metric_name == MEMORY:
        return Series(sim.spec.memory_sample_seconds, sim.history_start, instance.memory_percent,
                      constant=instance.constant_memory() if quiet else None,
                      ingestion_delay_seconds=sim.spec.metric_ingestion_delay_seconds)
    checks = sim.checks

    def connections(at: float) -> float | None:
        value = instance.established_connections(checks, at)
        return None if value is None else float(value)

    return Series(sim.spec.connections_sample_seconds, sim.history_start, connections,
                  constant=float(instance.constant_connections()) if quiet else None,
                  ingestion_delay_seconds=sim.spec.metric_ingestion_delay_seconds)


def _owned(sim: FleetWorld, query: dict[str, Any]) -> tuple[FleetWorld, SimulatedInstance, str] | None:
    """(the fleet, the instance, the metric) a query reads, when a simulator publishes that metric."""
    metric = (query.get("MetricStat") or {}).get("Metric") or {}
    if metric.get("Namespace") != NAMESPACE or metric.get("MetricName") not in (MEMORY, CONNECTIONS):
        return None
    instance_id = instance_dimension(metric)
    owner = sim.owner_of(instance_id) if instance_id else None
    return (owner[0], owner[1], str(metric["MetricName"])) if owner is not None else None


def _published(match: tuple[FleetWorld, SimulatedInstance, str], query: dict[str, Any]) -> bool:
    """CloudWatch matches the exact dimension set: InstanceId alone finds nothing for a four-dimension series."""
    return agent_dimensions.published(match[0], match[1], query["MetricStat"]["Metric"].get("Dimensions") or [])


def _period(query: dict[str, Any]) -> int:
    period = int(query["MetricStat"]["Period"])
    if period < 1 or (period < 60 and period not in _SUB_MINUTE_PERIODS) or (period >= 60 and period % 60):
        raise AwsError("ValidationError", f"The parameter MetricDataQueries.member.MetricStat.Period for query "
                                          f"{query.get('Id')} must be 1, 5, 10, 20, 30, 60 or a multiple of 60.")
    return period


def get_metric_data(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    try:
        queries, start, end, descending = validate_request(params)
    except AwsError:
        sim.tally("cloudwatch.GetMetricData")
        raise
    owned = [_owned(sim, q) for q in queries]
    sim.tally("cloudwatch.GetMetricData", [match[0] for match in owned if match is not None])
    if not any(owned):
        return None
    if any("Expression" in q for q in queries):
        raise AwsError("ValidationError", "the fleet simulator does not evaluate metric math; query its metrics "
                                          "with MetricStat only (or in a separate call)")
    with sim.lock:
        now = sim.now()
        results = []
        for query, match in zip(queries, owned, strict=True):
            if not query.get("ReturnData", True):
                continue
            stat = str(query["MetricStat"]["Stat"])
            validate_stat(stat)
            period = _period(query)
            # A metric nobody publishes has no datapoints: an empty, complete result, as on AWS.
            series = _series(*match) if match is not None and _published(match, query) else None
            label = query.get("Label") or query["MetricStat"]["Metric"].get("MetricName", query["Id"])
            results.append(metric_data_result(str(query["Id"]), str(label), series, stat, period, start, end, now,
                                              descending))
        return {"MetricDataResults": results, "Messages": []}
