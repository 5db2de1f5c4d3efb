"""The three ways AWS delivers one alarm state change, read into one shape (issue 16, item 4).

- EventBridge's "CloudWatch Alarm State Change" event (``detail``: alarmName, state, configuration.metrics);
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
- the SNS notification an alarm action publishes, delivered to a subscribed Lambda function as
  ``Records[].Sns.Message``: a JSON string with AlarmName, AlarmArn, NewStateValue, NewStateReason,
  StateChangeTime and Trigger (MetricName, Namespace, Dimensions as ``[{"name", "value"}]``, or Metrics
  for a metric-math alarm; no Trigger for a composite alarm);
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
- the payload of a Lambda alarm action (``source: aws.cloudwatch``, ``alarmArn``, ``alarmData`` with the
  same state and configuration blocks as the EventBridge detail);
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions-Lambda.html

Every path carries the alarm's name and the time of the state change (milliseconds, ``+0000``): one state
change delivered through two paths has the same (name, time), which names its execution and its claim, so it
starts one remediation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steps.aws.alarms import agreed_dimensions
from steps.core.entrypoint import validation_message
from steps.core.exceptions import InvalidRequest

Via = Literal["eventbridge", "sns", "lambda"]
EXPECTED = ('an EventBridge "CloudWatch Alarm State Change" event, an SNS notification of a CloudWatch alarm '
            '(Records[].Sns.Message), or a CloudWatch Lambda alarm action (source aws.cloudwatch with alarmData)')


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class AlarmMetric(_Loose):
    namespace: str = ""
    name: str = ""
    dimensions: dict[str, str] = Field(default_factory=dict)


class AlarmMetricStat(_Loose):
    metric: AlarmMetric


class AlarmQuery(_Loose):
    id: str = ""
    metricStat: AlarmMetricStat | None = None


class AlarmConfiguration(_Loose):
    metrics: list[AlarmQuery] = Field(default_factory=list)
    description: str | None = None


class AlarmState(_Loose):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    timestamp: datetime


class AlarmStateChangeDetail(_Loose):
    alarmName: str = Field(min_length=1)
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    alarmTags: dict[str, str] | None = None


class AlarmStateChangeEvent(EventBridgeModel):
    model_config = ConfigDict(defer_build=True)
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmStateChangeDetail


class LambdaAlarmAction(_Loose):
    source: Literal["aws.cloudwatch"]
    alarmArn: str = Field(min_length=1)
    alarmData: AlarmStateChangeDetail


class SnsDimension(_Loose):
    name: str
    value: str


class SnsTriggerMetric(_Loose):
    """One query of a metric-math alarm's Trigger.Metrics."""
    Id: str = ""
    MetricStat: dict[str, Any] | None = None


class SnsTrigger(_Loose):
    MetricName: str | None = None
    Namespace: str | None = None
    Dimensions: list[SnsDimension] = Field(default_factory=list)
    Metrics: list[SnsTriggerMetric] = Field(default_factory=list)


class SnsAlarmMessage(_Loose):
    AlarmName: str = Field(min_length=1)
    AlarmArn: str | None = None
    NewStateValue: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    NewStateReason: str = ""
    StateChangeTime: datetime
    Trigger: SnsTrigger | None = None  # absent for a composite alarm


@dataclass(frozen=True)
class AlarmChange:
    """One alarm state change, whichever way it came."""
    name: str
    state: str
    reason: str
    changed_at: datetime  # UTC
    via: Via
    arn: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] | None = None  # when the delivery carried them (EventBridge may)
    namespace: str = ""
    metric: str = ""
    delivery_id: str | None = None  # the EventBridge event id or the SNS message id (correlation)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _metric_of(configuration: AlarmConfiguration) -> tuple[dict[str, str], str, str]:
    found: list[dict[str, str]] = []
    namespace = name = ""
    for query in configuration.metrics:
        if query.metricStat:
            found.append(query.metricStat.metric.dimensions)
            namespace = namespace or query.metricStat.metric.namespace
            name = name or query.metricStat.metric.name
    return agreed_dimensions(found), namespace, name


def _from_detail(detail: AlarmStateChangeDetail, via: Via, arn: str | None, delivery_id: str | None) -> AlarmChange:
    dimensions, namespace, metric = _metric_of(detail.configuration)
    return AlarmChange(detail.alarmName, detail.state.value, detail.state.reason, _utc(detail.state.timestamp), via,
                       arn, dimensions, detail.alarmTags, namespace, metric, delivery_id)


def _from_sns(message: SnsAlarmMessage, delivery_id: str | None) -> AlarmChange:
    sets: list[dict[str, str]] = []
    namespace = metric = ""
    if message.Trigger:
        sets.append({d.name: d.value for d in message.Trigger.Dimensions})
        namespace, metric = message.Trigger.Namespace or "", message.Trigger.MetricName or ""
        for query in message.Trigger.Metrics:  # a metric-math alarm: MetricStat.Metric.Dimensions
            stat_metric = (query.MetricStat or {}).get("Metric") or {}
            sets.append({str(d["name"]): str(d["value"]) for d in stat_metric.get("Dimensions") or []
                         if isinstance(d, dict) and "name" in d and "value" in d})
            namespace = namespace or str(stat_metric.get("Namespace") or "")
            metric = metric or str(stat_metric.get("MetricName") or "")
    dimensions = agreed_dimensions(sets)
    return AlarmChange(message.AlarmName, message.NewStateValue, message.NewStateReason,
                       _utc(message.StateChangeTime), "sns", message.AlarmArn, dimensions, None, namespace, metric,
                       delivery_id)


def _refuse(what: str, exc: ValidationError | None = None) -> InvalidRequest:
    detail = f": {validation_message(exc)}" if exc is not None else ""
    return InvalidRequest(f"{what}{detail}; expected {EXPECTED}")


def _sns_record(index: int, record: Any) -> AlarmChange:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict) or not isinstance(sns.get("Message"), str):
        raise _refuse(f"Records[{index}] is not an SNS notification (no Sns.Message)")
    try:
        body = json.loads(sns["Message"])
    except json.JSONDecodeError as exc:
        raise _refuse(f"Records[{index}].Sns.Message is not JSON ({exc.msg}): not a CloudWatch alarm "
                      "notification") from exc
    try:
        message = SnsAlarmMessage.model_validate(body)
    except ValidationError as exc:
        raise _refuse(f"Records[{index}].Sns.Message is not a CloudWatch alarm notification", exc) from exc
    return _from_sns(message, sns.get("MessageId"))


def _sns_changes(records: list[Any]) -> list[AlarmChange | InvalidRequest]:
    """Each record on its own: one malformed record refuses itself, not the alarms batched with it."""
    read: list[AlarmChange | InvalidRequest] = []
    for index, record in enumerate(records):
        try:
            read.append(_sns_record(index, record))
        except InvalidRequest as refused:
            read.append(refused)
    return read


def changes(event: Any) -> list[AlarmChange | InvalidRequest]:
    """The alarm state changes an invocation carries (an SNS event may batch several, each read on its own: a
    record that is no alarm notification is its InvalidRequest in the list); InvalidRequest for any other shape."""
    if not isinstance(event, dict):
        raise _refuse(f"an event of type {type(event).__name__}")
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise _refuse("Records is empty or not a list")
        return _sns_changes(records)
    if "alarmData" in event:
        try:
            action = LambdaAlarmAction.model_validate(event)
        except ValidationError as exc:
            raise _refuse("not a CloudWatch Lambda alarm action", exc) from exc
        return [_from_detail(action.alarmData, "lambda", action.alarmArn, None)]
    try:
        parsed = AlarmStateChangeEvent.model_validate(event)
    except ValidationError as exc:
        raise _refuse("not a CloudWatch Alarm State Change event", exc) from exc
    return [_from_detail(parsed.detail, "eventbridge", parsed.resources[0] if parsed.resources else None, parsed.id)]
