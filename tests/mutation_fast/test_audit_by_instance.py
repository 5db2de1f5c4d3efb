"""The by-instance audit query reads only the window asked for (a key condition on the index's sort key), not
the instance's 400 days of records filtered in Python; checked on the Query DynamoDB answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from steps.store import audit
from steps.store.audit import AuditRecord

NOW = 1_800_000_000.0
DAY = 86400


@pytest.fixture
def table() -> Iterator[None]:
    with mock_aws():
        AuditRecord.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


@pytest.fixture
def answers(table: None) -> Iterator[list[dict[str, Any]]]:
    """(request, answer) of every Query the audit model sends."""
    seen: list[dict[str, Any]] = []
    events = AuditRecord._get_connection().connection.client.meta.events

    def keep(params: dict[str, Any], **_: Any) -> None:
        seen.append({"request": params})

    def answered(parsed: dict[str, Any], **_: Any) -> None:
        seen[-1]["count"] = parsed.get("Count")

    events.register("provide-client-params.dynamodb.Query", keep)
    events.register("after-call.dynamodb.Query", answered)
    yield seen
    events.unregister("provide-client-params.dynamodb.Query", keep)
    events.unregister("after-call.dynamodb.Query", answered)


def write(instance_id: str, at: float, event: str = "REBOOT_REQUESTED") -> None:
    audit.record(audit.AuditEntry(group="web", event=event, reason="r", at=at, instance_id=instance_id))


def test_the_instance_window_is_a_key_condition(answers: list[dict[str, Any]]) -> None:
    for age in (300 * DAY, 30 * DAY, 2 * DAY, DAY + 1, DAY - 1, 3600):
        write("i-1", NOW - age)
    write("i-2", NOW - 60)
    records = list(audit.for_instance("i-1", since=NOW - DAY))
    assert sorted(NOW - float(r.at) for r in records) == [3600, DAY - 1]
    # DynamoDB itself read only those two: the older ones were never loaded
    assert [a["count"] for a in answers] == [2]
    assert "sk" in str(answers[0]["request"]["ExpressionAttributeNames"].values())


def test_without_a_window_every_record_of_the_instance(table: None) -> None:
    for age in (300 * DAY, 3600):
        write("i-1", NOW - age)
    assert sorted(NOW - float(r.at) for r in audit.for_instance("i-1")) == [3600, 300 * DAY]
