"""The tables' names and region, from the container's settings (steps/core/container.py), and conditional writes.

A model's ``Meta`` names its table by one of the constants below: the names the container started with.
``configure`` points every model at other settings' tables (the local runtime, a deployed stack in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, PutError
from pynamodb.models import Model

from steps.core import container
from steps.core.config import Settings

_STARTED = container.settings()
LOCK_TABLE = _STARTED.lock_table
AUDIT_TABLE = _STARTED.audit_table
LIFECYCLE_TABLE = _STARTED.lifecycle_table
REGION = _STARTED.region

# One attempt per DynamoDB call, as for every other AWS call (steps/aws/clients.py): PynamoDB's own client
# retries 3 times by default, and a conditional write resent after its answer was lost (a read timeout, a 5xx
# after it took effect) fails its own condition (a lifecycle record's version, a lock's owner), reported as
# another writer's. The step's Retry re-reads and decides from what is stored instead. Every model's Meta sets it.
NO_SDK_RETRIES = 0

# Audit and lifecycle records are kept this long, then DynamoDB TTL removes them.
RETENTION_SECONDS = 400 * 24 * 3600


def expiry(at: float) -> datetime:
    """The value of a TTLAttribute (DynamoDB TTL: epoch seconds, stored as N) for the epoch time ``at``, whole
    seconds as before. From the step clock, never TTLAttribute's timedelta form (that reads the wall clock)."""
    return datetime.fromtimestamp(int(at), UTC)


def conditional_check_failed(exc: Exception) -> bool:
    """PynamoDB wraps botocore errors; this finds the DynamoDB error code underneath."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def delete_if(item: Any, condition: Any) -> bool:
    """Delete ``item`` only while ``condition`` holds (e.g. the owner is still us). False when it did not
    hold (the item is gone, or someone else's): for a release, both mean "not ours to give back"."""
    return _conditionally(lambda: item.delete(condition=condition), DeleteError)


def save_if(item: Any, condition: Any) -> bool:
    """Put ``item`` only while ``condition`` holds (free, still ours, ...). False when it did not hold."""
    return _conditionally(lambda: item.save(condition=condition), PutError)


def _conditionally(write: Callable[[], object], failure: type[Exception]) -> bool:
    try:
        write()
    except failure as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True


def configure(settings: Settings) -> None:
    """Point every model of steps/store at ``settings``' tables and region (a model defined later takes them
    from the constants, which follow)."""
    global LOCK_TABLE, AUDIT_TABLE, LIFECYCLE_TABLE, REGION
    renamed = {LOCK_TABLE: settings.lock_table, AUDIT_TABLE: settings.audit_table,
               LIFECYCLE_TABLE: settings.lifecycle_table}
    if len({settings.lock_table, settings.audit_table, settings.lifecycle_table}) < 3:
        raise ValueError(f"the lock, audit and lifecycle tables must be three tables: {settings}")
    for model in models(Model):
        table = renamed[model.Meta.table_name]
        if (model.Meta.table_name, model.Meta.region) != (table, settings.region):
            model.Meta.table_name, model.Meta.region = table, settings.region
            model._connection = None  # the next call connects to the table and region named now
    LOCK_TABLE, AUDIT_TABLE = settings.lock_table, settings.audit_table
    LIFECYCLE_TABLE, REGION = settings.lifecycle_table, settings.region


def models(base: type[Model]) -> Iterator[type[Model]]:
    """Every model of steps/store (of the modules imported so far)."""
    for model in base.__subclasses__():
        if model.__module__.startswith("steps.store."):
            yield model
        yield from models(model)


container.on_configure(configure)
