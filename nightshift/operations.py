"""What the operator's commands do, against AWS or the local runtime (both reached through boto3)."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
DURATION = re.compile(r"^(\d+)([smhd])$")


class OperatorError(Exception):
    """A command cannot proceed; the message says what to do."""


# Nothing older is kept: audit and lifecycle records live 400 days (steps/store/tables.py RETENTION_SECONDS),
# closed executions 90 days.
MAX_SINCE = timedelta(days=400)
STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}\Z")
EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[^:\s]{1,80}\Z")


def parse_duration(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match:
        raise OperatorError(f"--since {text!r}: use a number and a unit, e.g. 30m, 24h, 7d")
    value, unit = int(match.group(1)), match.group(2)
    seconds = value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if seconds > MAX_SINCE.total_seconds():
        raise OperatorError(f"--since {text}: longer than anything is kept (audit records live "
                            f"{MAX_SINCE.days} days); use at most {MAX_SINCE.days}d")
    return timedelta(seconds=seconds)


def state_machine_arn(explicit: str | None, stack: str | None, machine: str = "remediate") -> str:
    """--state-machine-arn, else the stack's output, else $NIGHTSHIFT_<MACHINE>_STATE_MACHINE_ARN."""
    if explicit:
        return _checked_machine_arn(explicit, "--state-machine-arn")
    if stack:
        outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        key = f"{machine.capitalize()}StateMachineArn"
        for output in outputs:
            if output["OutputKey"] == key:
                return str(output["OutputValue"])
        raise OperatorError(f"stack {stack} has no output {key}")
    env = f"NIGHTSHIFT_{machine.upper()}_STATE_MACHINE_ARN"
    if os.environ.get(env):
        return _checked_machine_arn(os.environ[env], env)
    raise OperatorError(f"which state machine? pass --state-machine-arn or --stack, or set {env}")


def _checked_machine_arn(arn: str, source: str) -> str:
    if not STATE_MACHINE_ARN.match(arn):
        raise OperatorError(f"{source} {arn!r} is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:"
                            "stateMachine:NAME); copy it from the stack's outputs, or pass --stack")
    return arn


def execution_arn(name_or_arn: str, machine_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        if not EXECUTION_ARN.match(name_or_arn):
            raise OperatorError(f"{name_or_arn!r} is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:"
                                "MACHINE:NAME); copy it from `nightshift status` or the console, or pass the name")
        return name_or_arn
    return machine_arn.replace(":stateMachine:", ":execution:") + f":{name_or_arn}"


def start_request(group: str, instance_id: str | None, dry_run: bool, reason: str, requested_by: str,
                  force: bool = False) -> dict[str, Any]:
    if force and not instance_id:
        raise OperatorError("--force skips the metric evaluation of one named instance: add --instance i-...")
    if force and not requested_by.strip():
        raise OperatorError("--force is recorded with who forced it: add --requested-by you@example.com")
    request: dict[str, Any] = {"group": group, "dry_run": dry_run, "reason": reason, "requested_by": requested_by,
                               "trigger": "manual"}
    if instance_id:
        request["instance_id"] = instance_id
    if force:
        request["force"] = True
    return request


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of an execution, across pages (GetExecutionHistory returns at most 1,000 a page)."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn,
                                                                 PaginationConfig={"PageSize": 1000})
    return [event for page in pages for event in page["events"]]


def manual_name(group: str) -> str:
    """Readable in the console: who started it for which group, when (UTC), plus a random tail."""
    slug = re.sub(r"[^A-Za-z0-9-_]", "-", group)[:40]
    return f"manual-{slug}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def follow(sfn: Any, arn: str, poll_seconds: float, timeout: float,
           ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield (description, history events since the last yield) until the execution closes."""
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=arn)
        events = execution_history(sfn, arn)
        fresh = events[seen:]
        seen = len(events)
        yield description, fresh
        if description["status"] in FINISHED or time.monotonic() > deadline:
            return
        time.sleep(poll_seconds)


def _executions(sfn: Any, machine_arn: str, status: str) -> list[dict[str, Any]]:
    """Every execution of the machine in ``status``, across pages (ListExecutions returns 100 a page by default)."""
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn, statusFilter=status)
    return [execution for page in pages for execution in page["executions"]]


def status_report(sfn: Any, machine_arn: str, lock_table: Any, since: timedelta) -> dict[str, Any]:
    """Running and recently failed executions, and every held lock with whether its owner still runs."""
    now = datetime.now(UTC)
    running = _executions(sfn, machine_arn, "RUNNING")
    failed = []
    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        for e in _executions(sfn, machine_arn, status):
            if e.get("stopDate") and now - e["stopDate"] <= since:
                failed.append(e)
    locks = []
    from steps.store.pause import PREFIX, GroupPause

    paused = [{"group": p.group.removeprefix(PREFIX), "reason": p.reason, "by": p.paused_by,
               "since": datetime.fromtimestamp(float(p.paused_at), UTC).isoformat()}
              for p in GroupPause.scan(GroupPause.group.startswith(PREFIX))]
    # The lock table also holds pause flags, the reconciler's progress and daily notices: a lease is an item
    # with an owner execution and an expiry; everything else is skipped (listed by what it is, not excluded
    # by prefix, so a new kind of item can never be mistaken for a lock).
    for item in lock_table.scan(lock_table.owner.exists() & lock_table.expires_at.exists()):
        try:
            owner_status = sfn.describe_execution(executionArn=item.owner)["status"]
        except Exception:  # the owner is unknown to Step Functions: the lock is stale
            owner_status = "GONE"
        locks.append({"group": item.group, "owner": item.owner, "owner_status": owner_status,
                      "expires_at": datetime.fromtimestamp(float(item.expires_at), UTC).isoformat()})
    brief: Callable[[dict[str, Any]], dict[str, Any]] = lambda e: {  # noqa: E731
        "name": e["name"], "status": e["status"], "started": e["startDate"].isoformat(),
        "group": json.loads(sfn.describe_execution(executionArn=e["executionArn"]).get("input") or "{}").get("group")}
    return {"running": [brief(e) for e in running], "failed": [brief(e) for e in failed], "locks": locks,
            "paused": paused}
