"""Checks of where a request comes from, for the validate step (issue 14): what an input claims about its
origin — ``trigger``, ``alarm``, ``replay_of`` — must be true, and the group's target groups must be in the
region and account this state machine runs in. Each refusal names the field and the fix; nothing changes.

The region and account are read from the execution's own ARN (``$$.Execution.Id``,
``arn:<partition>:states:<region>:<account>:execution:<machine>:<name>``): what Step Functions says, with no
extra call or environment variable, the same on AWS and in the local runtime.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from steps.aws.clients import client
from steps.aws.errors import aws_call, error_code
from steps.core.config import GroupConfig
from steps.core.events import StartInput
from steps.core.exceptions import InvalidRequest
from steps.store import alarm_claims

REPLAYABLE = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def check(start: StartInput, execution_id: str, execution_name: str, group: GroupConfig) -> None:
    check_target_groups_are_here(group, execution_id)
    check_trigger(start, execution_name, group)
    if start.replay_of is not None:
        check_replay_of(start, execution_id, group)


def _arn_parts(arn: str) -> list[str]:
    return arn.split(":", 5)


def check_target_groups_are_here(group: GroupConfig, execution_id: str) -> None:
    """ELBv2 and EC2 calls go to this region with this account's credentials: a target group elsewhere would
    be described as missing (or, cross-account, refused) halfway through a remediation."""
    parts = _arn_parts(execution_id)
    if len(parts) < 6:
        return  # not an ARN (a direct handler call): nothing to compare with
    region, account = parts[3], parts[4]
    for index, arn in enumerate(group.target_group_arns):
        tg = _arn_parts(arn)
        if len(tg) < 6 or tg[3] != region or tg[4] != account:
            where = f"region {tg[3]}, account {tg[4]}" if len(tg) >= 6 else "no region or account"
            raise InvalidRequest(
                f"group {group.name!r}: target_group_arns[{index}]: {arn} is in {where}, but Nightshift runs in "
                f"region {region}, account {account}; declare only this region's and account's target groups "
                "(deploy a stack per region and account)")


def check_trigger(start: StartInput, execution_name: str, group: GroupConfig) -> None:
    """Only the alarm trigger may say ``alarm``: it claims the execution name in the lock table before it
    starts it (steps/store/alarm_claims.py); anything else saying so is refused, not silently relabelled, so
    the person learns that the audit trail's trigger is not theirs to choose."""
    if start.trigger == "replay" and start.replay_of is None:
        raise InvalidRequest("trigger: 'replay' needs replay_of (the replayed execution's ARN); "
                             "use `nightshift replay EXECUTION`, or leave trigger out for a manual start")
    if start.replay_of is not None and start.trigger != "replay":
        raise InvalidRequest("replay_of: only a replay names the execution it replays (trigger 'replay'); "
                             "use `nightshift replay EXECUTION`, or remove replay_of")
    if start.alarm is not None and start.trigger not in ("alarm", "replay"):
        raise InvalidRequest("alarm: set only by Nightshift's alarm trigger; remove it (and trigger) for a manual "
                             "start")
    if start.trigger != "alarm":
        return
    claim = alarm_claims.find(execution_name)
    if claim is None or claim.remediation_group != group.name:
        raise InvalidRequest(
            f"trigger: 'alarm' is set only by Nightshift's alarm trigger, which did not start {execution_name} "
            f"for group {group.name!r}; start by hand without trigger and alarm (the trigger is then 'manual')")
    # The claim proves the name, not the input: a delivery that died between its claim and StartExecution leaves
    # the name free for anyone who computes it (alarm name + state-change time). The input must be the trigger's.
    alarm = start.alarm or {}
    recorded = claim.request_digest
    if (alarm.get("name") != claim.alarm_name or alarm.get("time") != claim.changed_at
            or start.instance_id != claim.instance_id
            or (recorded is not None
                and alarm_claims.request_digest(start.model_dump(exclude_unset=True)) != recorded)):
        raise InvalidRequest(
            f"trigger: 'alarm': {execution_name} was claimed by the alarm trigger for alarm {claim.alarm_name} at "
            f"{claim.changed_at}{' on ' + claim.instance_id if claim.instance_id else ''}, and this input (alarm, "
            "instance_id) is not the one it started; start by hand without trigger and alarm (the trigger is "
            "then 'manual') under another execution name")


def check_replay_of(start: StartInput, execution_id: str, group: GroupConfig) -> None:
    """``replay_of`` must be a stopped execution of this state machine, for this group and remediation."""
    replay_of = start.replay_of or ""
    machine = execution_id.rsplit(":", 1)[0]
    if replay_of.rsplit(":", 1)[0] != machine or replay_of == execution_id:
        raise InvalidRequest(f"replay_of: {replay_of!r} is not another execution of this state machine "
                             f"({machine}:…); name the failed execution's ARN, or use `nightshift replay`")
    described = _describe(replay_of)
    if described is None:
        raise InvalidRequest(f"replay_of: no execution {replay_of}; name a failed execution "
                             "(`nightshift status` lists them)")
    original = json.loads(described.get("input") or "{}")
    if original.get("group") != group.name:
        raise InvalidRequest(f"replay_of: {replay_of} remediated group {original.get('group')!r}, not "
                             f"{group.name!r}; a replay keeps the replayed execution's group")
    if described.get("status") not in REPLAYABLE:
        raise InvalidRequest(f"replay_of: {replay_of} is {described.get('status')}; only a FAILED, TIMED_OUT or "
                             "ABORTED execution is replayed")
    remediation = original.get("remediation_id") or replay_of.rsplit(":", 1)[-1]
    if start.remediation_id != remediation:
        raise InvalidRequest(f"remediation_id: a replay of {replay_of} continues remediation {remediation!r}, "
                             f"not {start.remediation_id!r}; leave remediation_id to `nightshift replay`")
    if start.alarm is not None and start.alarm != original.get("alarm"):
        raise InvalidRequest(f"alarm: differs from the replayed execution's; a replay keeps {replay_of}'s input")


REPLAY_CHAIN_LIMIT = 10  # replays of replays an outage can leave behind before one gets through validation


def replayed_chain(replay_of: str, remediation_id: str) -> list[str]:
    """``replay_of``, the execution it replayed, and so on (each execution's own ``replay_of``), while they
    continue ``remediation_id``: a replay that failed before it joined the remediation's record (an outage
    during its validation) still leads back to an execution that did."""
    chain: list[str] = []
    current: str | None = replay_of
    while current and current not in chain and len(chain) < REPLAY_CHAIN_LIMIT:
        chain.append(current)
        described = _describe(current)
        if described is None:
            break
        request = json.loads(described.get("input") or "{}")
        if (request.get("remediation_id") or current.rsplit(":", 1)[-1]) != remediation_id:
            break
        current = request.get("replay_of")
    return chain


def _describe(execution_arn: str) -> dict[str, Any] | None:
    """DescribeExecution, or None when there is no such execution (a malformed ARN included)."""
    with aws_call(f"DescribeExecution {execution_arn}"):
        try:
            described: dict[str, Any] = client("stepfunctions").describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) not in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise
            return None
    return described
