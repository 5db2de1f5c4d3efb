"""Replay failed remediate executions safely.

* Redrive (same execution, from the failed state) when the execution stopped mid-flight: aborted, timed
  out, or a Task that failed without reaching our restore path. Step Functions keeps the successful
  steps' results and the same execution ARN, so the lock is re-entered.
* Otherwise (it ended in our restore path, or redrive is unavailable, e.g. older than 14 days or in the
  local runtime) start a new execution with the old input plus ``replay_of`` and the same
  ``remediation_id``. The resume step and the lifecycle record make that safe: anything left out of
  service is put back first, a reboot already requested is never requested again, and the same
  instance is used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

REPLAYABLE = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
CAUGHT = "RemediationFailed"  # the error of our Fail state: the restore path already ran
NOT_REPLAYABLE_ERRORS = frozenset({"InvalidRequest"})  # the same input would fail the same way
REDRIVE_WINDOW = timedelta(days=14)


class ReplayRefused(Exception):
    """This execution cannot or need not be replayed; the message says why."""


@dataclass(frozen=True)
class ReplayResult:
    replay_of: str
    execution_arn: str
    how: str  # redrive | new | already
    note: str


def replay_name(execution_arn: str) -> str:
    """Deterministic per failed execution, so replaying it twice starts one replay."""
    old_name = execution_arn.rsplit(":", 1)[-1]
    digest = hashlib.sha256(execution_arn.encode()).hexdigest()[:10]
    return f"replay-{digest}-{old_name[:60]}"


def replay_input(description: dict[str, Any]) -> dict[str, Any]:
    old = json.loads(description.get("input") or "{}")
    old.pop("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID", None)
    name = description["executionArn"].rsplit(":", 1)[-1]
    return {**old, "trigger": "replay", "replay_of": description["executionArn"],
            "remediation_id": old.get("remediation_id") or name,
            "reason": f"replay of {name}" + (f": {old['reason']}" if old.get("reason") else "")}


def should_redrive(description: dict[str, Any], now: datetime) -> bool:
    if description.get("error") == CAUGHT:
        return False  # it failed in our Fail state: redriving would just fail again
    stopped = description.get("stopDate")
    return not (isinstance(stopped, datetime) and now - stopped > REDRIVE_WINDOW)


def describe(sfn: Any, execution_arn: str, remediate_arn: str | None = None) -> dict[str, Any]:
    """The execution to replay, refused when it does not exist or is not a remediation (e.g. a sweep)."""
    try:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"ExecutionDoesNotExist", "InvalidArn"}:
            raise
        raise ReplayRefused(f"{execution_arn}: no such execution; `nightshift status` lists the recent ones "
                            "(check the name, and the region and stack it ran in)") from exc
    machine = description.get("stateMachineArn", "")
    request = json.loads(description.get("input") or "{}")
    if (remediate_arn and machine != remediate_arn) or not isinstance(request, dict) or "group" not in request:
        raise ReplayRefused(f"{execution_arn} is an execution of {machine.rsplit(':', 1)[-1]}, not a remediation; "
                            "a sweep is not replayed: replay its failed remediations with "
                            "`nightshift replay --failed --since 24h`, or let the next sweep run")
    return description


def replay(sfn: Any, execution_arn: str, now: datetime | None = None, remediate_arn: str | None = None,
           ) -> ReplayResult:
    now = now or datetime.now(UTC)
    description = describe(sfn, execution_arn, remediate_arn)
    status = description["status"]
    if status not in REPLAYABLE:
        raise ReplayRefused(f"{execution_arn} is {status}; only FAILED, TIMED_OUT or ABORTED executions are replayed")
    if description.get("error") in NOT_REPLAYABLE_ERRORS:
        raise ReplayRefused(f"{execution_arn} failed validation ({description.get('cause', '')}); fix the input and "
                            "start a new execution instead")
    if should_redrive(description, now):
        try:
            sfn.redrive_execution(executionArn=execution_arn)
            return ReplayResult(execution_arn, execution_arn, "redrive", "redriven from the failed state")
        except (ClientError, NotImplementedError) as exc:
            note = f"redrive unavailable ({exc}); started a new execution with lineage"
        except Exception as exc:  # moto raises its own "not yet implemented" error types
            note = f"redrive unavailable ({type(exc).__name__}); started a new execution with lineage"
    else:
        note = "ended in the restore path; started a new execution with lineage"
    state_machine_arn = description["stateMachineArn"]
    name = replay_name(execution_arn)
    existing = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    try:
        # StartExecution with a running execution's name and input succeeds silently: look first.
        sfn.describe_execution(executionArn=existing)
        return ReplayResult(execution_arn, existing, "already", "already replayed by this execution")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
            raise
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name,
                                      input=json.dumps(replay_input(description)))
        return ReplayResult(execution_arn, str(started["executionArn"]), "new", note)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return ReplayResult(execution_arn, arn, "already", "already replayed by this execution")


def failed_since(sfn: Any, state_machine_arn: str, since: timedelta, group: str | None = None,
                 now: datetime | None = None) -> list[str]:
    """Replayable executions stopped within ``since``, newest per remediation (replays supersede originals)."""
    now = now or datetime.now(UTC)
    found: list[dict[str, Any]] = []
    for status in sorted(REPLAYABLE):
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn, statusFilter=status)
        for page in pages:
            found += [e for e in page["executions"] if e.get("stopDate") and now - e["stopDate"] <= since]
    latest: dict[str, tuple[datetime, str]] = {}
    for execution in found:
        description = sfn.describe_execution(executionArn=execution["executionArn"])
        if description.get("error") in NOT_REPLAYABLE_ERRORS:
            continue
        request = json.loads(description.get("input") or "{}")
        if group and request.get("group") != group:
            continue
        remediation = request.get("remediation_id") or execution["name"]
        if remediation not in latest or latest[remediation][0] < execution["stopDate"]:
            latest[remediation] = (execution["stopDate"], execution["executionArn"])
    return [arn for _, arn in sorted(latest.values())]
