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

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric

from steps.core.reasons import SKIPS, Reason

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "nightshift"))

# Where a handler's event holds its correlation id, for Powertools' ``Logger.inject_lambda_context``, which also
# puts the Lambda context's fields on every line (function_name, function_request_id, function_arn,
# function_memory_size, cold_start). Every Task of both state machines passes ``$$.Execution.Id`` as
# ``execution_id``; the alarm trigger's event is EventBridge's, whose ``id`` names the delivery.
EXECUTION_ID = "execution_id"
EVENTBRIDGE_EVENT_ID = correlation_paths.EVENT_BRIDGE
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Nightshift")

def _unchanged(handler: Callable[..., Any]) -> Callable[..., Any]:
    return handler


class Untraced:
    """What stands for Powertools' Tracer where tracing is off: handlers run undecorated, annotations go
    nowhere. A Tracer made there would be disabled anyway, yet making one imports the X-Ray SDK (about 0.2 s
    of every cold start, more than any step's own code)."""

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any] | None = None,
                               capture_response: bool | None = None,
                               capture_error: bool | None = None) -> Callable[..., Any]:
        if lambda_handler is None:
            return _unchanged
        return lambda_handler

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        return None


def tracing_off() -> bool:
    """Powertools' own rule, read as its Tracer reads it when made: off outside Lambda (no LAMBDA_TASK_ROOT,
    or under SAM CLI / Chalice) and where POWERTOOLS_TRACE_DISABLED is true. On Lambda the SAM template turns
    X-Ray tracing on (``Tracing: Active``) and the Tracer is made, as before.

    The rule is private to Powertools (``Tracer._is_tracer_disabled``), and on Lambda Powertools is the layer
    version the operator picks: where a release lacks it, the Tracer is made and decides for itself (as
    before this stand-in existed) rather than every function failing its INIT."""
    rule = getattr(Tracer, "_is_tracer_disabled", None)
    return bool(rule()) if callable(rule) else False


# X-Ray segments per handler: Powertools' Tracer where tracing is on (it patches botocore, so every AWS call is a
# subsegment), else ``Untraced`` (no X-Ray SDK imported).
tracer: Tracer | Untraced = Untraced() if tracing_off() else Tracer(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", "nightshift"))

_sink: Callable[[str], None] | None = None  # None: stdout, where Lambda wants EMF

# audit event -> [(metric, unit, value or the details key holding it)]. Every skip code (Reason.is_skip)
# emits RemediationsSkipped besides, dimensioned by its code.
METRICS_OF: dict[Reason, list[tuple[str, MetricUnit, float | str]]] = {
    Reason.DEREGISTERED: [("RemediationsStarted", MetricUnit.Count, 1),
                          ("InstancesOutOfService", MetricUnit.Count, 1)],
    Reason.DRAINED: [("DrainSeconds", MetricUnit.Seconds, "drain_seconds")],
    Reason.REBOOTED: [("BootSeconds", MetricUnit.Seconds, "boot_seconds")],
    Reason.HEALTHY: [("RemediationsSucceeded", MetricUnit.Count, 1),
                     ("TimeToHealthySeconds", MetricUnit.Seconds, "time_to_healthy_seconds"),
                     ("InstancesOutOfService", MetricUnit.Count, 0)],
    Reason.RESTORED: [("InstancesOutOfService", MetricUnit.Count, 0)],
    Reason.FAILED: [("RemediationsFailed", MetricUnit.Count, 1)],
    Reason.ESCALATING: [("Escalations", MetricUnit.Count, 1)],
    Reason.REPLACED: [("InstancesReplaced", MetricUnit.Count, 1)],
    Reason.LEFT_OUT_OF_SERVICE: [("InstancesLeftOutOfService", MetricUnit.Count, 1)],
    # The sweep's reconciler: cut short by its time budget (the next sweep continues), or failed.
    Reason.RECONCILE_INCOMPLETE: [("ReconcileIncomplete", MetricUnit.Count, 1)],
    Reason.RECONCILE_FAILED: [("ReconcileFailed", MetricUnit.Count, 1)],
    Reason.NO_METRIC_DATA: [("NoMetricData", MetricUnit.Count, 1)],
}


def use_sink(sink: Callable[[str], None] | None) -> None:
    """Where EMF blobs go (None: stdout, as Lambda requires; the local runtime collects them instead)."""
    global _sink
    _sink = sink


def record_metrics(group: str, event: Reason, details: dict[str, Any]) -> None:
    """Turn one audit event into metrics, each dimensioned by group (and by reason for skips)."""
    for name, unit, source in METRICS_OF.get(event, []):
        value = details.get(source) if isinstance(source, str) else source
        if isinstance(value, int | float):
            _emit(name, unit, float(value), {"Group": group})
    if event in SKIPS:
        _emit("RemediationsSkipped", MetricUnit.Count, 1.0, {"Group": group, "Reason": str(event)})


def _emit(name: str, unit: MetricUnit, value: float, dimensions: dict[str, str]) -> None:
    """One EMF blob per metric: Powertools' ``SingleMetric`` (what ``single_metric`` builds: no state shared
    between metrics, so a skip's Reason dimension never reaches another metric), serialised as
    ``single_metric`` prints it and handed to the sink (stdout on Lambda, the local runtime's collector)."""
    metric = SingleMetric(namespace=NAMESPACE)
    metric.add_metric(name=name, unit=unit, value=value)
    for key, dim in dimensions.items():
        metric.add_dimension(name=key, value=dim)
    (_sink or print)(json.dumps(metric.serialize_metric_set(), separators=(",", ":")))
