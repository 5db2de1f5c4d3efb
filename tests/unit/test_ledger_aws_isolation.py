"""GIVEN the capacity ledger WHEN DynamoDB behaves as documented, not as moto does THEN the floor still holds and a
busy table never fails a remediation (issue 17 review).

moto runs every request one at a time, so two behaviours DynamoDB documents never happen in it:

* Isolation. "A single GetItem request is serializable with respect to a TransactWriteItems request ... Multiple
  GetItem requests, against keys in a concurrent TransactWriteItems requests can be run in any order, and therefore
  the results are read-committed" — "GetItem request for item A is run before the TransactWriteItems request. For
  item B the GetItem is run after"; and BatchGetItem as a unit is read-committed
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html, "Isolation levels").
  So a decision that reads a head *after* another reservation's transaction may still read that reservation's slot
  *before* it. The tests replay exactly that interleaving.
* Conflicts. "An item within a TransactWriteItems request is part of another ongoing TransactWriteItems request":
  the transaction is cancelled with the reason ``TransactionConflict``; "When a PutItem, UpdateItem, or DeleteItem
  request is rejected, the request fails with a TransactionConflictException" (same page, "Transaction conflict
  handling"). Every reservation of a group updates the group's head: concurrent decisions conflict there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from pynamodb.exceptions import UpdateError

from nightshift.runtime.moto_gaps import serialize_dynamodb_writes
from steps.core.config import parse_groups
from steps.core.exceptions import AwsThrottled
from steps.domain.capacity import RoutingFailover
from steps.domain.in_flight import Refusal, refuse, reserved_instances, resolve
from steps.remediate import blockers
from steps.store import errors, ledger, lock

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{}/0123456789abcdef"
NOW = 1000.0


@pytest.fixture
def table() -> Iterator[None]:
    serialize_dynamodb_writes()
    with mock_aws():
        lock.GroupLock.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


def _group(name: str, **settings: Any) -> Any:
    return parse_groups({"groups": [{"name": name, "target_group_arns": [TG.format(name)], **settings}]}).group(name)


def _take_slot(group: str, owner: str, slots: int) -> str:
    outcome = lock.acquire(group, owner, NOW, 7200, lambda _arn: "RUNNING", max_slots=slots, seen_slots=slots)
    assert outcome.acquired and outcome.key, outcome
    ledger.note_slots(group, slots)
    return outcome.key


def _decider(group: Any, instances: list[str], candidate: str, account_max: int | None
             ) -> Callable[[ledger.GroupView], Refusal | str | None]:
    """The capacity check's decision (the real floor and the real limits), every instance healthy in AWS."""
    snap = blockers.Snapshot({TG.format(group.name): dict.fromkeys(instances, "healthy")},
                             {TG.format(group.name): RoutingFailover()}, None)
    limits = resolve(group.in_flight, group.in_flight_per_az, account_max, None, len(instances), None)

    def decide(view: ledger.GroupView) -> Refusal | str | None:
        refusal = refuse(candidate, None, view.others, view.account_others, view.recent_starts, limits, NOW)
        if refusal is not None:
            return refusal
        return None if blockers.decide(group, snap, candidate, reserved_instances(view.others)).allowed else "floor"
    return decide


def _interleave(monkeypatch: pytest.MonkeyPatch, on_head: str, other: Callable[[], None], keys: list[str]) -> None:
    """When the decision reads the head ``on_head``, another reservation (``other``) commits just before that read
    (the head read sees it), while the decision's next read of the slots ``keys`` is served as of before it: the
    interleaving the documentation allows for reads of several items around one transaction."""
    real_head, real_slots = ledger.head, ledger.slots
    state: dict[str, Any] = {"armed": True, "before": None}

    def head(key: str) -> ledger.Head | None:
        if state["armed"] and key == on_head:
            state["armed"] = False
            before = {item.group: item for item in real_slots(keys)}
            other()
            state["before"] = before
        return real_head(key)

    def slots(wanted: list[str]) -> list[lock.GroupLock]:
        if state["before"] is not None:
            before, state["before"] = state["before"], None
            return [before[k] for k in dict.fromkeys(wanted) if k in before]
        return real_slots(wanted)

    monkeypatch.setattr(ledger, "head", head)
    monkeypatch.setattr(ledger, "slots", slots)


def test_a_reservation_seen_in_the_head_but_not_yet_in_its_slot_still_counts(
        table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 healthy, min_healthy 2: one instance may be out. A reserves i-000 between B's head read and B's slot read.
    group = _group("web", max_in_flight=3, min_healthy=2, min_healthy_percent=0)
    instances = ["i-000", "i-001", "i-002"]
    key_a, key_b = _take_slot("web", "exec-a", 3), _take_slot("web", "exec-b", 3)

    def a_reserves() -> None:
        _, refused = ledger.reserve("web", key_a, "exec-a", "i-000", None, NOW, 3, False, 3,
                                    _decider(group, instances, "i-000", None))
        assert refused is None

    _interleave(monkeypatch, ledger.head_key("web"), a_reserves, [lock.slot_key("web", i) for i in range(3)])
    _, refused = ledger.reserve("web", key_b, "exec-b", "i-001", None, NOW, 3, False, 3,
                                _decider(group, instances, "i-001", None))
    reserved = {i.instance for i in lock.slots([key_a, key_b]) if i.reserved_at is not None}
    assert refused == "floor", f"both reserved ({sorted(reserved)}): 2 of 3 out, under min_healthy 2"
    assert reserved == {"i-000"}


def test_an_account_reservation_seen_in_the_head_but_not_yet_in_its_slot_still_counts(
        table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # account.max_in_flight 1: group web's reservation lands between api's account head read and its slot read
    web, api = _group("web", max_in_flight=3, min_healthy=1), _group("api", max_in_flight=3, min_healthy=1)
    key_web, key_api = _take_slot("web", "exec-web", 3), _take_slot("api", "exec-api", 3)

    def web_reserves() -> None:
        _, refused = ledger.reserve("web", key_web, "exec-web", "i-000", None, NOW, 3, True, 3,
                                    _decider(web, ["i-000", "i-001", "i-002"], "i-000", 1))
        assert refused is None

    _interleave(monkeypatch, ledger.ACCOUNT_KEY, web_reserves,
                [lock.slot_key("api", i) for i in range(3)] + [key_web])
    _, refused = ledger.reserve("api", key_api, "exec-api", "i-100", None, NOW, 3, True, 3,
                                _decider(api, ["i-100", "i-101", "i-102"], "i-100", 1))
    assert isinstance(refused, Refusal), "two instances of the account out under account.max_in_flight 1"


def _cancel_next_transactions(reasons: list[str], times: int = 1) -> list[int]:
    """DynamoDB's answer to the next ``times`` TransactWriteItems: TransactionCanceledException with ``reasons``
    (one per action, 'None' for an action that was not the cause), as botocore parses it."""
    client = ledger._connection().client
    sent: list[int] = []

    def answer(**_kwargs: Any) -> tuple[Any, dict[str, Any]] | None:
        if len(sent) >= times:
            return None
        sent.append(1)
        return SimpleNamespace(status_code=400), {
            "Error": {"Code": "TransactionCanceledException",
                      "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                                 f"[{', '.join(reasons)}]"},
            "CancellationReasons": [{"Code": r} for r in reasons], "ResponseMetadata": {"HTTPHeaders": {}}}

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", answer)
    return sent


@pytest.mark.parametrize("reasons", [["None", "TransactionConflict"], ["TransactionConflict", "None"],
                                     ["None", "None", "TransactionConflict"]])
def test_a_transaction_cancelled_by_a_concurrent_one_decides_again(table: None, reasons: list[str]) -> None:
    group = _group("web", max_in_flight=3, min_healthy=1)
    key = _take_slot("web", "exec-a", 3)
    sent = _cancel_next_transactions(reasons)
    _, refused = ledger.reserve("web", key, "exec-a", "i-000", None, NOW, 3, len(reasons) == 3, 3,
                                _decider(group, ["i-000", "i-001", "i-002"], "i-000", None))
    assert sent == [1] and refused is None
    assert lock.holder(key).reserved_at == NOW  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", ["ThrottlingError", "ProvisionedThroughputExceeded"])
def test_a_throttled_transaction_is_throttling_for_the_state_machine(table: None, reason: str) -> None:
    group = _group("web", max_in_flight=3, min_healthy=1)
    key = _take_slot("web", "exec-a", 3)
    _cancel_next_transactions(["None", reason])
    with pytest.raises(AwsThrottled, match=reason):
        ledger.reserve("web", key, "exec-a", "i-000", None, NOW, 3, False, 3,
                       _decider(group, ["i-000", "i-001", "i-002"], "i-000", None))
    assert lock.holder(key).reserved_at is None  # type: ignore[union-attr]


def test_transactions_cancelled_by_conflicts_again_and_again_are_throttling_for_the_state_machine(
        table: None) -> None:
    group = _group("web", max_in_flight=3, min_healthy=1)
    key = _take_slot("web", "exec-a", 3)
    _cancel_next_transactions(["None", "TransactionConflict"], times=ledger.MAX_ATTEMPTS)
    with pytest.raises(AwsThrottled):
        ledger.reserve("web", key, "exec-a", "i-000", None, NOW, 3, False, 3,
                       _decider(group, ["i-000", "i-001", "i-002"], "i-000", None))
    assert lock.holder(key).reserved_at is None  # type: ignore[union-attr]


def test_a_write_conflicting_with_an_ongoing_transaction_is_retried() -> None:
    # note_registered / note_slots update the group's head, which every reservation's transaction updates too
    conflict = ClientError({"Error": {"Code": "TransactionConflictException",
                                      "Message": "Transaction is ongoing for the item"}}, "UpdateItem")
    with pytest.raises(AwsThrottled, match="TransactionConflictException"), errors.translated():
        raise UpdateError("Failed to update item", conflict)


def test_a_retry_after_a_reservation_committed_decides_the_same_and_counts_its_start_once(table: None) -> None:
    # The transaction committed but its answer was lost (a read timeout, a Lambda that died right after): the Task's
    # Retry decides again with its own reservation already written. account.max_per_hour 1: the only start of the
    # hour is this remediation's own; it must not refuse itself, nor count itself twice.
    group = _group("web", max_in_flight=3, min_healthy=1)
    key = _take_slot("web", "exec-a", 3)
    snap = blockers.Snapshot({TG.format("web"): dict.fromkeys(["i-000", "i-001", "i-002"], "healthy")},
                             {TG.format("web"): RoutingFailover()}, None)
    limits = resolve(group.in_flight, None, None, 1, 3, None)

    def decide(view: ledger.GroupView) -> Refusal | str | None:
        refusal = refuse("i-000", None, view.others, view.account_others, view.recent_starts, limits, NOW)
        if refusal is not None:
            return refusal
        return None if blockers.decide(group, snap, "i-000", reserved_instances(view.others)).allowed else "floor"

    assert ledger.reserve("web", key, "exec-a", "i-000", None, NOW, 3, True, 3, decide)[1] is None
    _, again = ledger.reserve("web", key, "exec-a", "i-000", None, NOW + 1, 3, True, 3, decide)
    assert again is None, again
    account = ledger.head(ledger.ACCOUNT_KEY)
    assert account is not None and [float(t) for t in account.starts or []] == [NOW + 1]
    assert [e.owner for e in account.reservations or []] == ["exec-a"]
