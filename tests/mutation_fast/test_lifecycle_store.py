"""The remediation record's store (steps/store/lifecycle.py) on in-process moto DynamoDB: what open_record,
advance and save_facts write, and the conditions that keep two executions from moving one remediation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from pynamodb.exceptions import PutError

from steps.core.exceptions import LifecycleConflict
from steps.store import lifecycle
from steps.store.lifecycle import RemediationRecord

FIRST = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:first"
SECOND = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:second"
T0 = 1_800_000_000.0
RETENTION = 400 * 24 * 3600  # written out: 400 days


@pytest.fixture
def table() -> Iterator[None]:
    with mock_aws():
        RemediationRecord.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


def stored(remediation_id: str = "r-1") -> RemediationRecord:
    return RemediationRecord.get(remediation_id, consistent_read=True)


def test_open_record_creates_the_record(table: None) -> None:
    record = lifecycle.open_record("r-1", "web", "alarm", FIRST, T0)
    assert record.state == "requested"
    saved = stored()
    assert (saved.group, saved.state, saved.trigger, saved.instance_id) == ("web", "requested", "alarm", None)
    assert saved.executions == [FIRST]
    assert (saved.created_at, saved.updated_at) == (T0, T0)
    assert saved.expires_at == datetime.fromtimestamp(T0 + RETENTION, UTC)
    assert saved.facts == {} and saved.history == []


def test_the_expiry_is_stored_as_epoch_seconds_for_dynamodb_ttl(table: None) -> None:
    lifecycle.open_record("r-1", "web", "alarm", FIRST, T0 + 0.75)
    raw = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=RemediationRecord.Meta.table_name, Key={"remediation_id": {"S": "r-1"}})["Item"]
    assert raw["expires_at"] == {"N": str(int(T0) + RETENTION)}  # whole seconds, a Number, as DynamoDB TTL reads


def test_open_record_again_loads_it_and_adds_a_new_execution_once(table: None) -> None:
    first = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    lifecycle.advance(first, "select", {"instance_id": "i-1"}, T0 + 1, FIRST, instance_id="i-1")
    replay = lifecycle.open_record("r-1", "web", "replay", SECOND, T0 + 50)
    assert replay.state == "selected" and replay.trigger == "manual" and replay.created_at == T0
    assert stored().executions == [FIRST, SECOND]
    assert stored().facts == {"select": {"instance_id": "i-1"}}
    lifecycle.open_record("r-1", "web", "replay", SECOND, T0 + 60)  # a Retry of the replay's first step
    assert stored().executions == [FIRST, SECOND]


def test_open_record_of_another_groups_remediation_is_refused(table: None) -> None:
    lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    with pytest.raises(LifecycleConflict, match=r"^remediation r-1 belongs to group web, not api$"):
        lifecycle.open_record("r-1", "api", "manual", SECOND, T0)
    assert stored().executions == [FIRST]


def test_open_record_without_a_table_raises_the_store_error() -> None:
    with mock_aws(), pytest.raises(PutError):
        lifecycle.open_record("r-1", "web", "manual", FIRST, T0)


def test_load_of_an_unknown_remediation_names_it(table: None) -> None:
    with pytest.raises(LifecycleConflict, match=r"^no remediation record r-9$"):
        lifecycle.load("r-9")


def test_advance_records_state_result_history_and_instance(table: None) -> None:
    record = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    lifecycle.advance(record, "select", {"instance_id": "i-1"}, T0 + 5, FIRST, instance_id="i-1")
    lifecycle.advance(record, "deregister", {"target_groups": ["tg"]}, T0 + 9, SECOND)
    saved = stored()
    assert saved.state == "draining" and saved.instance_id == "i-1" and saved.updated_at == T0 + 9
    assert saved.facts == {"select": {"instance_id": "i-1"}, "deregister": {"target_groups": ["tg"]}}
    assert saved.history == [{"from": "requested", "to": "selected", "at": T0 + 5, "execution": FIRST},
                             {"from": "selected", "to": "draining", "at": T0 + 9, "execution": SECOND}]
    assert saved.created_at == T0


def test_advance_without_an_instance_keeps_the_recorded_one(table: None) -> None:
    record = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    lifecycle.advance(record, "select", {}, T0, FIRST, instance_id="i-1")
    lifecycle.advance(record, "deregister", {}, T0, FIRST, instance_id="")
    assert stored().instance_id == "i-1"


def test_an_illegal_move_is_refused_and_nothing_saved(table: None) -> None:
    record = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    with pytest.raises(LifecycleConflict, match=r"^remediation r-1: cannot reboot from state requested$"):
        lifecycle.advance(record, "reboot", {}, T0 + 1, FIRST)
    assert stored().state == "requested" and stored().history == []


def test_advance_from_a_stale_state_is_refused(table: None) -> None:
    ours = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    theirs = lifecycle.load("r-1")
    lifecycle.advance(theirs, "select", {"by": "them"}, T0 + 1, SECOND)
    with pytest.raises(LifecycleConflict, match=r"^remediation r-1 left state requested under us$"):
        lifecycle.advance(ours, "find_nothing", {}, T0 + 2, FIRST)
    assert stored().state == "selected" and stored().facts == {"select": {"by": "them"}}


def test_save_facts_keeps_the_state_and_is_conditional_on_it(table: None) -> None:
    record = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    lifecycle.advance(record, "select", {}, T0, FIRST)
    record.facts = {**record.facts, "note": {"n": 1}}
    lifecycle.save_facts(record)
    assert stored().facts == {"select": {}, "note": {"n": 1}} and stored().state == "selected"
    other = lifecycle.load("r-1")
    lifecycle.advance(other, "skip", {}, T0, SECOND)
    record.facts = {"note": {"n": 2}}
    with pytest.raises(LifecycleConflict, match="left state selected under us"):
        lifecycle.save_facts(record)
    assert stored().facts == {"select": {}, "note": {"n": 1}, "skip": {}}


def test_a_save_since_the_read_is_a_conflict_even_in_the_same_state(table: None) -> None:
    # GIVEN two reads of one record in state selected
    record = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    lifecycle.advance(record, "select", {}, T0, FIRST)
    ours, theirs = lifecycle.load("r-1"), lifecycle.load("r-1")
    # WHEN one saves its facts, the state unchanged
    theirs.facts = {**theirs.facts, "note": {"by": "them"}}
    lifecycle.save_facts(theirs)
    # THEN the other's save (facts or a move) is refused, not written over theirs
    ours.facts = {**ours.facts, "note": {"by": "us"}}
    with pytest.raises(LifecycleConflict, match=r"^remediation r-1 was saved by another writer since it was read "
                                                r"\(still in state selected\); read it again$"):
        lifecycle.save_facts(ours)
    with pytest.raises(LifecycleConflict, match="was saved by another writer"):
        lifecycle.advance(ours, "deregister", {}, T0 + 1, FIRST)
    assert stored().facts == {"select": {}, "note": {"by": "them"}} and stored().state == "selected"
    # AND read again, it saves
    again = lifecycle.load("r-1")
    lifecycle.advance(again, "deregister", {}, T0 + 2, FIRST)
    assert stored().state == "draining"


def test_a_record_written_before_it_had_a_version_saves_once_read(table: None) -> None:
    RemediationRecord("r-1", group="web", created_at=T0, updated_at=T0, expires_at=datetime.fromtimestamp(T0, UTC),
                      facts={}, history=[]).save(add_version_condition=False)
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=RemediationRecord.Meta.table_name, Key={"remediation_id": {"S": "r-1"}},
        UpdateExpression="REMOVE #v", ExpressionAttributeNames={"#v": "version"})
    lifecycle.advance(lifecycle.load("r-1"), "select", {}, T0 + 1, FIRST)
    assert stored().state == "selected"


def test_open_record_never_overwrites_a_record_written_before_it_had_a_version(table: None) -> None:
    # GIVEN a remediation in flight whose record predates the version attribute (written by the code before the
    # record had one: no `version`), WHEN its replay opens it, THEN it is loaded and joined, not written over.
    # Only `remediation_id.does_not_exist()` refuses this create: the version's own condition (`version` does not
    # exist) holds for such an item.
    legacy = RemediationRecord("r-1", group="web", state="rebooting", executions=[FIRST], created_at=T0,
                               updated_at=T0, expires_at=datetime.fromtimestamp(T0, UTC),
                               facts={"select": {"instance_id": "i-1"}}, history=[])
    legacy.save(add_version_condition=False)
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=RemediationRecord.Meta.table_name, Key={"remediation_id": {"S": "r-1"}},
        UpdateExpression="REMOVE #v", ExpressionAttributeNames={"#v": "version"})
    replay = lifecycle.open_record("r-1", "web", "replay", SECOND, T0 + 50)
    assert replay.state == "rebooting" and replay.created_at == T0
    assert stored().state == "rebooting" and stored().facts == {"select": {"instance_id": "i-1"}}
    assert stored().executions == [FIRST, SECOND]


def test_save_facts_without_a_table_raises_the_store_error(table: None) -> None:
    record = lifecycle.open_record("r-1", "web", "manual", FIRST, T0)
    RemediationRecord.delete_table()
    with pytest.raises(PutError):
        lifecycle.save_facts(record)


@pytest.mark.parametrize(("state", "trigger", "expected"), [
    ("requested", "select", None),  # not done yet
    ("selected", "select", {"instance_id": "i-1"}),
    ("draining", "select", {"instance_id": "i-1"}),  # done and beyond
    ("selected", "deregister", None),
    ("restored", "select", None),  # off the happy path: nothing is taken as done
])
def test_recorded_returns_the_result_only_once_the_work_is_done(state: str, trigger: str,
                                                                expected: dict[str, str] | None) -> None:
    record = RemediationRecord("r-1", group="web", state=state, facts={"select": {"instance_id": "i-1"}})
    assert lifecycle.recorded(record, trigger) == expected


def test_recorded_work_without_a_result_is_an_empty_result() -> None:
    record = RemediationRecord("r-1", group="web", state="draining", facts={"select": "not a dict"})
    assert lifecycle.recorded(record, "select") == {}
    assert lifecycle.recorded(RemediationRecord("r-1", group="web", state="draining", facts={}), "select") == {}
    # a copy: changing it does not change the record
    record = RemediationRecord("r-1", group="web", state="draining", facts={"select": {"a": 1}})
    result = lifecycle.recorded(record, "select")
    assert result is not None
    result["a"] = 2
    assert record.facts == {"select": {"a": 1}}
