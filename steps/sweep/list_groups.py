"""Sweep step: the configured groups, each with the name its nested remediate execution will carry."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from steps.core import groups
from steps.core.entrypoint import validation_message
from steps.core.exceptions import InvalidRequest
from steps.core.observability import EXECUTION_ID, logger, tracer


class SweepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[str] | None = None  # limit the sweep to these groups (default: all declared)


class ListGroupsEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_id: str
    execution_name: str
    input: dict[str, Any]


def child_name(group: str, sweep_name: str) -> str:
    """Deterministic per (sweep, group): a redriven sweep reuses it, and Step Functions refuses a duplicate."""
    digest = hashlib.sha256(f"{sweep_name}/{group}".encode()).hexdigest()[:12]
    return f"sweep-{re.sub(r'[^A-Za-z0-9-_]', '-', group)[:50]}-{digest}"


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EXECUTION_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        envelope = ListGroupsEvent.model_validate(event)
        wanted = SweepInput.model_validate(envelope.input)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from exc
    document = groups.load()
    names = wanted.groups if wanted.groups is not None else [g.name for g in document.groups]
    for name in names:
        document.group(name)  # an unknown group fails the sweep before anything starts
    planned = [{"group": name, "execution_name": child_name(name, envelope.execution_name)} for name in names]
    logger.info("sweep planned", extra={"groups": names})
    return {"groups": planned}
