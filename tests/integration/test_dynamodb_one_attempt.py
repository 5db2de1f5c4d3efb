"""DynamoDB calls make one attempt, like every other AWS call, and a reboot is counted however its records fared.

PynamoDB builds its own botocore client with 3 retries by default (its ``max_retry_attempts``), which
``AWS_MAX_ATTEMPTS`` does not override. botocore's standard mode sends a request again after a read timeout or
a 500 (https://docs.aws.amazon.com/boto3/latest/guide/retries.html), and DynamoDB may have applied the first
copy: the resent conditional write then fails its own condition (the lifecycle record's version) and reads as
another writer's. So every model sets ``max_retry_attempts = 0`` (steps/store/tables.py NO_SDK_RETRIES) and a
lost answer reaches the step, whose Retry re-reads the record.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from pynamodb.models import Model

import steps.store
from steps.core.exceptions import AwsUnavailable
from steps.store import audit, lifecycle, tables
from steps.store.lifecycle import RemediationRecord
from tests.harness import Steps


def _store_models() -> list[type[Model]]:
    for info in pkgutil.iter_modules(steps.store.__path__):
        importlib.import_module(f"steps.store.{info.name}")
    return sorted(tables.models(Model), key=lambda m: m.__name__)


def test_every_store_model_is_found() -> None:
    names = {m.__name__ for m in _store_models()}
    assert {"GroupLock", "AuditRecord", "RemediationRecord"} <= names and len(names) >= 8, names


@pytest.mark.parametrize("model", _store_models(), ids=lambda m: m.__name__)
def test_each_table_client_makes_one_attempt(steps: Steps, model: type[Model]) -> None:
    retries = model._get_connection().connection.client.meta.config.retries
    assert retries.get("total_max_attempts") == 1, (model.__name__, retries)


def _lose_the_answer_of(monkeypatch: pytest.MonkeyPatch, wanted: str) -> list[str]:
    """The first PutItem of a lifecycle record whose facts contain ``wanted`` takes effect; its answer is lost."""
    connection = RemediationRecord._get_connection().connection
    real = connection.put_item
    lost: list[str] = []

    def put(*args: Any, **kwargs: Any) -> Any:
        answer = real(*args, **kwargs)
        if not lost and wanted in str(kwargs.get("attributes", {}).get("facts", "")):
            lost.append(wanted)
            raise AwsUnavailable("PutItem: read timeout (the write took effect)")
        return answer

    monkeypatch.setattr(connection, "put_item", put)
    return lost


def test_a_reboot_whose_sent_record_lost_its_answer_is_sent_once_and_counted_once(
        steps: Steps, monkeypatch: pytest.MonkeyPatch) -> None:
    steps.validate()
    steps.call("acquire-group-lock", "lock")
    steps.call("select-worst-instance", "selection")
    steps.call("deregister-instance", "deregistration")
    lost = _lose_the_answer_of(monkeypatch, '"sent": true')
    with pytest.raises(AwsUnavailable):
        steps.call("reboot-instance", "reboot")
    steps.call("reboot-instance", "reboot")  # the Task's Retry: finds it sent
    steps.call("reboot-instance", "reboot")  # and once more (a redrive): still one request, one record
    assert lost == ['"sent": true'], "the fault did not fire"
    assert len(steps.sim.reboot_requests(steps.leaker)) == 1
    assert lifecycle.load("it-1").facts["reboot"]["sent"] is True
    requested = [r for r in audit.for_group("web") if r.event == "REBOOT_REQUESTED"]
    # what the cooldown, the daily reboot limit and the storm breaker count: exactly one
    assert len(requested) == 1
    assert requested[0].details["requested_at"] == lifecycle.load("it-1").facts["reboot"]["requested_at"]
