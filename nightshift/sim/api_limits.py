"""The AWS API request rate limits that bind Nightshift, as AWS documents them (checked 2026-11-28).

One ``ApiLimit`` per API, keyed on the operation name the simulator and the bench tally
(``"<client name>.<Operation>"``, e.g. ``"elbv2.DescribeTargetHealth"``; see ``FleetSimulator.tally`` and
``bench/meter.py``). ``rate_per_second`` is the sustained rate: a token bucket's refill rate, or the flat
"transactions per second" AWS states where it documents no bucket. ``burst`` is the bucket's capacity, None
where AWS documents only a TPS. ``SharedBucket`` is a bucket several operations draw from (ELB's account-level
bucket). ``Quota`` holds the limits that are not a request rate of one API (Lambda concurrency, DynamoDB
partition throughput, batch sizes). ``UNDOCUMENTED`` lists the APIs Nightshift calls for which no number was
found: ``limit_for`` returns None for them, and nothing here invents one.

Every limit is per AWS account and per Region, and every number is a default (most can be raised). Where a
limit differs by Region the value here is US East (N. Virginia)'s (the bench's Region); the note gives the
others. docs/aws-behaviour.md ("API rate limits") is the same table in prose, with how each page was read.
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKED = "2026-11-28"

ELB_THROTTLING = "https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html"
EC2_THROTTLING = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
CLOUDWATCH_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"
STEP_FUNCTIONS_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_RESERVED = "https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html"
DYNAMODB_ON_DEMAND_THROTTLING = "https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb"
DYNAMODB_WARM_THROUGHPUT = ("https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                            "warm-throughput-scenarios.html")
AUTO_SCALING_QUOTAS = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-quotas.html"
AUTO_SCALING_THROTTLED = "https://repost.aws/knowledge-center/autoscaling-api-calls-throttled"
SSM_QUOTAS = "https://docs.aws.amazon.com/general/latest/gr/ssm.html"


@dataclass(frozen=True)
class ApiLimit:
    """One API's documented request rate limit (per account, per Region)."""

    service: str
    operation: str  # "<client name>.<Operation>", as FleetSimulator.tally and bench/meter.py name it
    rate_per_second: float  # sustained: the bucket's refill rate, or the documented TPS
    burst: float | None  # the bucket's capacity; None: AWS documents a TPS only, no bucket
    source: str
    category: str = ""  # AWS's name for the bucket or row ("Non-mutating actions", ...)
    note: str = ""


@dataclass(frozen=True)
class SharedBucket:
    """A token bucket that several operations draw from together."""

    name: str  # how rows and tables show it, e.g. "elbv2.* (account-level bucket)"
    service: str
    prefix: str  # operations starting with this draw from it ("elbv2.")
    operations: frozenset[str]  # or exactly these (empty: every operation with the prefix)
    rate_per_second: float
    burst: float | None
    source: str
    note: str = ""

    def covers(self, operation: str) -> bool:
        if not operation.startswith(self.prefix):
            return False
        return not self.operations or operation in self.operations


@dataclass(frozen=True)
class Quota:
    """A documented limit that is not one API's request rate (concurrency, capacity units, batch sizes)."""

    service: str
    name: str
    value: float
    unit: str
    source: str
    note: str = ""


_ELB = "Elastic Load Balancing (ELBv2)"
_ELB_NOTE = ("Also draws from ELB's account-level bucket shared by every ELB API action (40 tokens, 10 a second); "
             "calls ELB makes for EC2, ECS, EC2 Auto Scaling and CloudFormation use their own buckets.")
_EC2 = "Amazon EC2"
_EC2_DESCRIBE_NOTE = ("The smaller 'unfiltered and unpaginated' bucket (50, 10 a second) applies when the call "
                      "names neither a filter nor pagination; the standard non-mutating bucket is 100, 20 a "
                      "second. Whether an InstanceIds list counts as a filter is not documented: the smaller "
                      "bucket is assumed.")
_CW = "Amazon CloudWatch"
_CW_NOTE = ("Read from the page's source as last published in awsdocs/amazon-cloudwatch-user-guide "
            "(doc_source/cloudwatch_limits.md); the stored copy of the live page shows its opening only.")
_SFN = "AWS Step Functions (Standard)"
_SFN_NOTE = "US East (N. Virginia), US West (Oregon), Europe (Ireland); all other Regions: "
_LAMBDA = "AWS Lambda"

LIMITS: tuple[ApiLimit, ...] = (
    # Elastic Load Balancing: categories of ELBv2 actions, token buckets (capacity, refill per second).
    ApiLimit(_ELB, "elbv2.DescribeTargetHealth", 10, 40, ELB_THROTTLING, "Non-mutating", _ELB_NOTE),
    ApiLimit(_ELB, "elbv2.DescribeTargetGroups", 10, 40, ELB_THROTTLING, "Non-mutating", _ELB_NOTE),
    ApiLimit(_ELB, "elbv2.DescribeTargetGroupAttributes", 10, 40, ELB_THROTTLING, "Non-mutating", _ELB_NOTE),
    ApiLimit(_ELB, "elbv2.DescribeLoadBalancerAttributes", 10, 40, ELB_THROTTLING, "Non-mutating", _ELB_NOTE),
    ApiLimit(_ELB, "elbv2.RegisterTargets", 4, 20, ELB_THROTTLING, "Registration", _ELB_NOTE),
    ApiLimit(_ELB, "elbv2.DeregisterTargets", 4, 20, ELB_THROTTLING, "Registration", _ELB_NOTE),
    ApiLimit(_ELB, "elbv2.ModifyTargetGroupAttributes", 3, 20, ELB_THROTTLING, "Mutating", _ELB_NOTE),
    # EC2: each API has its own bucket ("each API is evaluated individually").
    ApiLimit(_EC2, "ec2.DescribeInstances", 10, 50, EC2_THROTTLING, "Unfiltered and unpaginated non-mutating",
             _EC2_DESCRIBE_NOTE),
    ApiLimit(_EC2, "ec2.DescribeInstanceStatus", 10, 50, EC2_THROTTLING,
             "Unfiltered and unpaginated non-mutating", _EC2_DESCRIBE_NOTE),
    ApiLimit(_EC2, "ec2.DescribeTags", 20, 100, EC2_THROTTLING, "Non-mutating"),
    ApiLimit(_EC2, "ec2.RebootInstances", 5, 50, EC2_THROTTLING, "Mutating"),
    ApiLimit(_EC2, "ec2.StopInstances", 5, 50, EC2_THROTTLING, "Mutating",
             "Also a resource bucket: 1,000 instances, refill 20 instances a second (see QUOTAS)."),
    ApiLimit(_EC2, "ec2.StartInstances", 2, 5, EC2_THROTTLING, "Uncategorized",
             "Also a resource bucket: 1,000 instances, refill 2 instances a second (see QUOTAS)."),
    # CloudWatch: flat TPS per Region, no bucket documented.
    ApiLimit(_CW, "cloudwatch.GetMetricData", 50, None, CLOUDWATCH_QUOTAS, "GetMetricData",
             "50 TPS for calls without Metrics Insights queries (10 TPS with them); also 180,000 datapoints a "
             "second when StartTime is within 3 hours (see QUOTAS). " + _CW_NOTE),
    ApiLimit(_CW, "cloudwatch.ListMetrics", 25, None, CLOUDWATCH_QUOTAS, "ListMetrics", _CW_NOTE),
    ApiLimit(_CW, "cloudwatch.PutMetricData", 500, None, CLOUDWATCH_QUOTAS, "PutMetricData", _CW_NOTE),
    ApiLimit(_CW, "cloudwatch.GetMetricStatistics", 400, None, CLOUDWATCH_QUOTAS, "GetMetricStatistics",
             _CW_NOTE),
    ApiLimit(_CW, "cloudwatch.DescribeAlarms", 9, None, CLOUDWATCH_QUOTAS, "DescribeAlarms", _CW_NOTE),
    # Step Functions (Standard workflows): token buckets; the three large Regions first.
    ApiLimit(_SFN, "stepfunctions.StartExecution", 300, 1300, STEP_FUNCTIONS_QUOTAS,
             "API action throttling", _SFN_NOTE + "bucket 800, refill 150."),
    ApiLimit(_SFN, "stepfunctions.DescribeExecution", 15, 300, STEP_FUNCTIONS_QUOTAS, "Other quotas",
             _SFN_NOTE + "bucket 250, refill 10."),
    ApiLimit(_SFN, "stepfunctions.ListExecutions", 5, 200, STEP_FUNCTIONS_QUOTAS, "Other quotas",
             _SFN_NOTE + "bucket 100, refill 2."),
    ApiLimit(_SFN, "stepfunctions.StopExecution", 200, 1000, STEP_FUNCTIONS_QUOTAS, "Other quotas",
             _SFN_NOTE + "bucket 500, refill 25."),
    # Not an API: the StateTransition service metric, throttled by a bucket of its own (a bench counts
    # transitions under this name).
    ApiLimit(_SFN, "stepfunctions.StateTransition", 5000, 5000, STEP_FUNCTIONS_QUOTAS, "State throttling",
             _SFN_NOTE + "bucket 800, refill 800. New accounts have reduced state transition quotas, which "
                         "AWS raises automatically based on usage."),
    # Lambda: synchronous invocations per function per Region.
    ApiLimit(_LAMBDA, "lambda.Invoke", 10_000, None, LAMBDA_QUOTAS, "Invocation requests (synchronous)",
             "Per function per Region: each execution environment serves up to 10 requests a second, so 10 x "
             "the concurrency limit (1,000 by default, see QUOTAS)."),
)

SHARED_BUCKETS: tuple[SharedBucket, ...] = (
    SharedBucket("elbv2.* (account-level bucket)", _ELB, "elbv2.", frozenset(), 10, 40, ELB_THROTTLING,
                 "Shared by every ELB API action of the account in the Region, whoever calls it (console, "
                 "controllers, Nightshift), except calls AWS services make on your behalf."),
    SharedBucket("elbv2.(De)RegisterTargets (registration category)", _ELB, "elbv2.",
                 frozenset({"elbv2.RegisterTargets", "elbv2.DeregisterTargets"}), 4, 20, ELB_THROTTLING,
                 "Our reading: the page gives one capacity and refill rate per category and does not say "
                 "whether the category's actions share one bucket; shared is the stricter reading."),
)

QUOTAS: tuple[Quota, ...] = (
    Quota(_LAMBDA, "Concurrent executions", 1_000, "executions per account per Region", LAMBDA_QUOTAS,
          "Can be raised to tens of thousands. New accounts have reduced concurrency quotas."),
    Quota(_LAMBDA, "Unreserved concurrency", 100, "executions that reserved concurrency must leave unreserved",
          LAMBDA_RESERVED, "Reserved concurrency is taken from the account's pool: 'no other function can use "
                           "that concurrency' (https://docs.aws.amazon.com/lambda/latest/dg/"
                           "configuration-concurrency.html)."),
    Quota(_LAMBDA, "Function concurrency scaling limit", 1_000, "execution environments per function every "
          "10 seconds", LAMBDA_QUOTAS),
    Quota(_SFN, "Maximum open executions", 1_000_000, "executions per account per Region",
          STEP_FUNCTIONS_QUOTAS),
    Quota(_CW, "GetMetricData datapoints", 180_000, "datapoints per second (StartTime within 3 hours)",
          CLOUDWATCH_QUOTAS, "396,000 a second when StartTime is more than 3 hours ago; estimated from the "
                             "time range, period and retention, not the datapoints returned. " + _CW_NOTE),
    Quota(_CW, "GetMetricData queries per call", 500, "MetricDataQuery structures", CLOUDWATCH_QUOTAS,
          "Cannot be changed."),
    Quota(_EC2, "StopInstances resource bucket", 1_000, "instances (refill 20 a second)", EC2_THROTTLING),
    Quota(_EC2, "StartInstances resource bucket", 1_000, "instances (refill 2 a second)", EC2_THROTTLING),
    Quota("Amazon EC2 Auto Scaling", "EnterStandby / ExitStandby batch", 20, "instance IDs per call",
          AUTO_SCALING_QUOTAS, "Cannot be changed."),
    Quota("Amazon DynamoDB", "Partition read throughput", 3_000, "read request units per second per partition",
          DYNAMODB_ON_DEMAND_THROTTLING, "Or a linear combination with writes; holds for on-demand tables too. "
                                         "Also: " + DYNAMODB_WARM_THROUGHPUT),
    Quota("Amazon DynamoDB", "Partition write throughput", 1_000, "write request units per second per partition",
          DYNAMODB_ON_DEMAND_THROTTLING, "A single item lives in one partition: one group's lock item is "
                                         "bounded by this."),
    Quota("Amazon DynamoDB", "On-demand table throughput", 40_000, "read and 40,000 write request units per "
          "second per table (account-level default)", DYNAMODB_ON_DEMAND_THROTTLING),
    Quota("Amazon DynamoDB", "New on-demand table", 12_000, "read request units (or 4,000 write request units) "
          "per second at once", DYNAMODB_ON_DEMAND_THROTTLING, "Beyond double the previous peak within 30 "
                                                               "minutes a table may throttle."),
)

# The APIs Nightshift calls for which no rate was found documented (what was looked for, where).
UNDOCUMENTED: dict[str, str] = {
    "ssm.SendCommand": "No request rate is documented for Run Command's API (" + SSM_QUOTAS + ").",
    "ssm.GetCommandInvocation": "No request rate is documented (" + SSM_QUOTAS + ").",
    "ssm.ListCommandInvocations": "No request rate is documented (" + SSM_QUOTAS + ").",
    "ssm.DescribeInstanceInformation": "No request rate is documented (" + SSM_QUOTAS + ").",
    "autoscaling.DescribeAutoScalingInstances": (
        "All EC2 Auto Scaling API calls share one bucket (" + AUTO_SCALING_THROTTLED + "); its size and "
        "refill rate could not be read (" + AUTO_SCALING_QUOTAS + ")."),
    "autoscaling.DescribeAutoScalingGroups": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.EnterStandby": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.ExitStandby": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.SetInstanceHealth": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.CompleteLifecycleAction": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.RecordLifecycleActionHeartbeat": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.DescribeLifecycleHooks": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.DescribeScalingActivities": "As autoscaling.DescribeAutoScalingInstances.",
    "autoscaling.DescribeInstanceRefreshes": "As autoscaling.DescribeAutoScalingInstances.",
}

_BY_OPERATION: dict[str, ApiLimit] = {limit.operation: limit for limit in LIMITS}


def limit_for(operation: str) -> ApiLimit | None:
    """The documented limit of ``"<client>.<Operation>"``; None where none is documented (see UNDOCUMENTED)."""
    return _BY_OPERATION.get(operation)


def shared_buckets_for(operation: str) -> tuple[SharedBucket, ...]:
    """The shared buckets an operation also draws from."""
    return tuple(bucket for bucket in SHARED_BUCKETS if bucket.covers(operation))
