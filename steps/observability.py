"""Structured logging and metrics for every step.

Logs: JSON lines carrying the execution id as correlation id (Powertools Logger).
Metrics: CloudWatch EMF in namespace ``Nightshift`` (Powertools Metrics), derived in one place from the
audit events a step records, so every metric has an audited decision behind it. EMF must reach stdout on
Lambda; the local runtime swaps the sink to collect them instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "nightshift"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Nightshift"))
# X-Ray segments per handler (the SAM template turns tracing on; outside Lambda it stays off).
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "nightshift"))

_sink: Callable[[str], None] = print

# audit event -> [(metric, unit, value or the details key holding it)]
METRICS_OF: dict[str, list[tuple[str, MetricUnit, float | str]]] = {
    "DEREGISTERED": [("RemediationsStarted", MetricUnit.Count, 1), ("InstancesOutOfService", MetricUnit.Count, 1)],
    "DRAINED": [("DrainSeconds", MetricUnit.Seconds, "drain_seconds")],
    "REBOOTED": [("BootSeconds", MetricUnit.Seconds, "boot_seconds")],
    "HEALTHY": [("RemediationsSucceeded", MetricUnit.Count, 1),
                ("TimeToHealthySeconds", MetricUnit.Seconds, "time_to_healthy_seconds"),
                ("InstancesOutOfService", MetricUnit.Count, 0)],
    "RESTORED": [("InstancesOutOfService", MetricUnit.Count, 0)],
    "FAILED": [("RemediationsFailed", MetricUnit.Count, 1)],
    "ESCALATING": [("Escalations", MetricUnit.Count, 1)],
    "REPLACED": [("InstancesReplaced", MetricUnit.Count, 1)],
    "LEFT_OUT_OF_SERVICE": [("InstancesLeftOutOfService", MetricUnit.Count, 1)],
    # The sweep's reconciler: cut short by its time budget (the next sweep continues), or failed.
    "RECONCILE_INCOMPLETE": [("ReconcileIncomplete", MetricUnit.Count, 1)],
    "RECONCILE_FAILED": [("ReconcileFailed", MetricUnit.Count, 1)],
    "NO_METRIC_DATA": [("NoMetricData", MetricUnit.Count, 1)],
}
SKIPS = frozenset({"SKIPPED_LOCKED", "SKIPPED_CLAIMED", "SKIPPED_SHARED", "SKIPPED_CAPACITY", "SKIPPED_PAUSED",
                   "SKIPPED_EXCLUDED", "SKIPPED_ALARM", "SKIPPED_WINDOW", "SKIPPED_COOLDOWN", "SKIPPED_ASG_ACTIVITY",
                   "STORM_BREAKER", "NOTHING_TO_DO"})


def use_sink(sink: Callable[[str], None] | None) -> None:
    """Where EMF blobs go (stdout by default, as Lambda requires)."""
    global _sink
    _sink = sink or print


def record_metrics(group: str, event: str, details: dict[str, Any]) -> None:
    """Turn one audit event into metrics, each dimensioned by group (and by reason for skips)."""
    for name, unit, source in METRICS_OF.get(event, []):
        value = details.get(source) if isinstance(source, str) else source
        if isinstance(value, int | float):
            _emit(name, unit, float(value), {"Group": group})
    if event in SKIPS:
        _emit("RemediationsSkipped", MetricUnit.Count, 1.0, {"Group": group, "Reason": event})


def _emit(name: str, unit: MetricUnit, value: float, dimensions: dict[str, str]) -> None:
    # One metric set per metric: skips carry a Reason dimension the others must not.
    emf = Metrics(namespace=metrics.namespace)
    for key, dim in dimensions.items():
        emf.add_dimension(key, dim)
    emf.add_metric(name=name, unit=unit, value=value)
    _sink(json.dumps(emf.serialize_metric_set(), separators=(",", ":")))
    emf.clear_metrics()
