"""Step: validate the execution input before anything else happens (console, CLI, alarm, schedule).

A bad input fails here with an error that names the field and the fix, and nothing in AWS changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from steps.aws import elbv2
from steps.core import clock, groups
from steps.core.entrypoint import validation_message
from steps.core.events import StartInput, ValidateEvent
from steps.core.exceptions import ConfigurationError, InvalidRequest, LifecycleConflict
from steps.core.observability import EXECUTION_ID, logger, tracer
from steps.remediate import request_origin
from steps.store import claim, lifecycle
from steps.store import errors as store_errors


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EXECUTION_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    with store_errors.translated():  # a throttled table is retried, not an unknown failure
        return _validate(event)


def _validate(event: dict[str, Any]) -> dict[str, Any]:
    try:
        envelope = ValidateEvent.model_validate(event)
        start = StartInput.model_validate(envelope.input)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from exc
    try:
        group = groups.group(start.group)
    except ConfigurationError as exc:
        raise InvalidRequest(str(exc)) from exc
    request_origin.check(start, envelope.execution_id, envelope.execution_name, group)
    if start.instance_id:
        registered = elbv2.group_target_states(group.target_group_arns, [start.instance_id])
        if not any(start.instance_id in states for states in registered.values()) \
                and not _taken_out_by_this_group(start.instance_id, group.name):
            raise InvalidRequest(
                f"instance_id: {start.instance_id} is not registered in any target group of group "
                f"{group.name!r}; pick an instance behind {', '.join(group.target_group_arns)}"
            )
    remediation_id = start.remediation_id or envelope.execution_name
    _refuse_reused_remediation_id(start, remediation_id, group.name, envelope.execution_id)
    lifecycle.open_record(remediation_id, group.name, start.trigger, envelope.execution_id, clock.now())
    request = {
        "group": group.name,
        "trigger": start.trigger,
        "remediation_id": remediation_id,
        "instance_id": start.instance_id,
        "dry_run": start.dry_run,
        "reason": start.reason,
        "requested_by": start.requested_by,
        "replay_of": start.replay_of,
        "force": start.force,
        "alarm_name": _alarm_name(start),
        "start_delay_seconds": start.start_delay_seconds,
    }
    logger.info("request accepted", extra={"request": request})
    # The slot the Release state frees: slot 0 until the Acquire step says which (a failure before it, or a
    # skip, frees nothing of anyone else's: the delete is conditional on owner = this execution).
    return {"request": request, "lock": {"acquired": False, "key": request["group"]}}


def _taken_out_by_this_group(instance_id: str, group: str) -> bool:
    """A remediation of ``group`` claims the instance: it took it out of the target groups (deregistered, it is in
    none once its drain ends). An alarm about it while it is out names one of this group's instances; its
    remediation ends on the claim, changing nothing."""
    holder = claim.holder(instance_id)
    return holder is not None and holder.claimed_for == group


def _alarm_name(start: StartInput) -> str | None:
    name = (start.alarm or {}).get("name")
    return name if isinstance(name, str) and name else None


def _refuse_reused_remediation_id(start: StartInput, remediation_id: str, group: str, execution_id: str) -> None:
    """The remediation this execution continues (``remediation_id`` in the input, else the execution's name)
    must be new, or the one of the execution ``replay_of`` names (the replay path). Reusing an old one would
    hand this execution the old one's recorded results: its selection, its drain, its reboot, its health. The
    name counts too: an execution named after an earlier remediation's explicit id would join its record."""
    try:
        record = lifecycle.load(remediation_id)
    except LifecycleConflict:
        return  # a new remediation id
    # Without a remediation_id field the id is the execution's name: the fix is another name.
    fix = ("omit remediation_id to start a new remediation" if start.remediation_id is not None
           else "start it under another execution name (the name is its remediation_id)")
    if record.group != group:
        raise InvalidRequest(
            f"remediation_id: {remediation_id} belongs to a remediation of group {record.group!r}, not {group!r}; "
            f"{fix}")
    if execution_id in (record.executions or []):
        return  # this very execution opened it: a Retry of this step, or a redrive
    if start.replay_of is not None and set(request_origin.replayed_chain(start.replay_of, remediation_id)) \
            & set(record.executions or []):
        return  # a replay of an execution of that remediation (or of a replay of one that failed before joining)
    started_by = (record.executions or ["?"])[0]
    raise InvalidRequest(
        f"remediation_id: {remediation_id} belongs to an earlier remediation of {group!r} (state {record.state}, "
        f"started by {started_by}); {fix}, or replay that execution "
        "with `nightshift replay <execution>` (replay_of names it)")
