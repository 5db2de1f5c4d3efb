"""A small cost model: what one remediation costs at us-east-1 list prices, from the bench's measured counts.

Free tiers are ignored (they would make both approaches free at this volume and say nothing). Every price
names its public source; COST.md and results.md print them next to the numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

NIGHTSHIFT_MEMORY_MB = 256  # infra/template.yaml: MemorySize 256, Architectures [arm64], python3.12
NIGHTSHIFT_ARCH = "arm64"
BASELINE_ARCH = "x86_64"  # assumed: Lambda's default architecture, the seed does not say


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


PRICES: dict[str, Price] = {
    "sfn_transition": Price(0.025 / 1000, "state transition (Standard workflows; retries count too)",
                            "https://aws.amazon.com/step-functions/pricing/"),
    "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second, x86, first 6 billion GB-s/month; billed per 1 ms",
                                     "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second, Arm, first 7.5 billion GB-s/month; billed per 1 ms",
                                    "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": Price(0.20 / 1_000_000, "Lambda request (invocation)", "https://aws.amazon.com/lambda/pricing/"),
    "getmetricdata_metric": Price(0.01 / 1000, "metric requested by GetMetricData",
                                  "https://aws.amazon.com/cloudwatch/pricing/"),
    "cloudwatch_request": Price(0.01 / 1000, "other CloudWatch API request (GetMetricStatistics, ...)",
                                "https://aws.amazon.com/cloudwatch/pricing/"),
    "dynamodb_write": Price(0.625 / 1_000_000, "DynamoDB on-demand write request unit (item <= 1 KB)",
                            "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_read": Price(0.125 / 1_000_000, "DynamoDB on-demand read request unit (counted as 1 per read)",
                           "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
}
# EC2 (DescribeInstances, RebootInstances, DescribeInstanceStatus), ELBv2 API calls and SSM Run Command on
# EC2 instances carry no per-request charge: https://aws.amazon.com/systems-manager/pricing/ ("Run Command":
# no additional charge) and the EC2/ELB pricing pages (hourly/LCU pricing only).
FREE_OPERATIONS_NOTE = ("EC2 and ELBv2 API calls and SSM Run Command (SendCommand/GetCommandInvocation on EC2) "
                        "have no per-request charge.")

DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


@dataclass(frozen=True)
class RemediationCost:
    approach: str
    arch: str
    transitions: int
    lambda_requests: int
    lambda_billed_seconds: float
    lambda_memory_mb: int
    lambda_gb_seconds: float
    cloudwatch_metrics_requested: int  # GetMetricData
    cloudwatch_requests: int  # GetMetricStatistics and other per-request CloudWatch APIs
    dynamodb_writes: int
    dynamodb_reads: int
    usd_step_functions: float
    usd_lambda: float
    usd_cloudwatch: float
    usd_dynamodb: float
    usd_total: float
    init_seconds: float = 0.0  # cold-start INIT billed when every function starts cold (Aug 2025 onwards)
    usd_total_cold: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _calls(result: dict[str, Any]) -> dict[str, int]:
    """operation -> count over every step of the remediation (the engine's own Lambda invokes excluded)."""
    totals: dict[str, int] = {}
    for step, calls in result["calls_by_step"].items():
        if step.startswith("("):
            continue
        for operation, count in calls.items():
            totals[operation] = totals.get(operation, 0) + count
    # The lock release is a direct DynamoDB integration run by the state machine itself.
    for operation, count in (result.get("engine_calls") or {}).items():
        if operation.startswith("dynamodb."):
            totals[operation] = totals.get(operation, 0) + count
    return totals


def remediation_cost(approach: str, result: dict[str, Any], memory_mb: int, arch: str,
                     init_seconds: float = 0.0) -> RemediationCost:
    calls = _calls(result)
    transitions = int(result["transitions"]["billed"])
    requests = int(result["lambda_invocations"])
    billed = float(result["lambda_billed_seconds"])
    gb_seconds = billed * memory_mb / 1024
    metrics = int(result.get("metrics_requested") or 0) if approach == "nightshift" else 0
    cw_requests = sum(n for op, n in calls.items()
                      if op.startswith("cloudwatch.") and op != "cloudwatch.GetMetricData")
    writes = sum(n for op, n in calls.items() if op.split(".")[-1] in DYNAMODB_WRITES and op.startswith("dynamodb."))
    reads = sum(n for op, n in calls.items() if op.split(".")[-1] in DYNAMODB_READS and op.startswith("dynamodb."))
    p = PRICES
    usd_sfn = transitions * p["sfn_transition"].usd
    gb_second = p[f"lambda_gb_second_{arch}"].usd
    usd_lambda = gb_seconds * gb_second + requests * p["lambda_request"].usd
    usd_cw = metrics * p["getmetricdata_metric"].usd + cw_requests * p["cloudwatch_request"].usd
    usd_ddb = writes * p["dynamodb_write"].usd + reads * p["dynamodb_read"].usd
    total = usd_sfn + usd_lambda + usd_cw + usd_ddb
    usd_init = init_seconds * memory_mb / 1024 * gb_second
    return RemediationCost(approach, arch, transitions, requests, round(billed, 4), memory_mb, round(gb_seconds, 4),
                           metrics, cw_requests, writes, reads, usd_sfn, usd_lambda, usd_cw, usd_ddb, total,
                           round(init_seconds, 3), total + usd_init)


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    digits = max(2, 3 - math.floor(math.log10(abs(value))))
    return f"${value:.{digits}f}"
