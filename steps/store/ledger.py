"""The capacity ledger: one atomic decision per instance leaving service, across the group's slots and the account.

docs/design.md, "Several at once: slots and the capacity ledger". The slots (steps/store/lock.py) say who holds the
group and which instance each selected; the capacity check *reserves* its instance on its slot. Every reservation
is one DynamoDB transaction that also bumps a version number on the group's *head* item (``<group>#head``) and,
when the account has limits, on the account's head item (``#account``), each conditional on the version the
decision read. A decision reads the head(s) first, then the slots; if any other reservation commits between that
read and its own write, the version changed and the transaction is cancelled, so it reads again and decides again.
Every committed reservation was therefore decided with every earlier one in view: two decisions made at the same
moment can never both take the last instance the floor (or max_in_flight, or the account ceiling) allows.

Releasing a slot (the state machine deletes it at the end of every path) removes its reservation with it and
needs no version bump: a decision that still counts a released reservation is only more careful.

The heads also *list* the live reservations (group and account), and a decision counts every listed reservation
whose owner still holds its slot, whatever that slot's item says: reading the heads first and the slots next is not
enough on its own. A GetItem is serializable with a transaction, but "multiple GetItem requests, against keys in a
concurrent TransactWriteItems requests can be run in any order" and a BatchGetItem is read-committed as a unit
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html, "Isolation levels"): a
decision can read a head after another reservation's transaction and that reservation's slot before it. The head
alone, read in one GetItem, holds every reservation committed up to the version read.

Concurrent transactions on one head conflict ("TransactionConflict", same page, "Transaction conflict handling"):
the decision is made again, like a version overtaken; throttling of the transaction is ``AwsThrottled``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from steps.core.exceptions import AwsThrottled, LockLost
from steps.domain.in_flight import HOUR_SECONDS, Held
from steps.store import tables
from steps.store.lock import GroupLock, group_of_slot, owned_by, slot_key, slots
from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION

ACCOUNT_KEY = "#account"  # a group name never starts with '#'
HEAD_SUFFIX = "#head"
# A decision re-reads and decides again when another reservation committed under it; after this many in a row the
# step fails with AwsThrottled, which the state machine retries with back-off (a burst of decisions, not a fault).
MAX_ATTEMPTS = 8

T = TypeVar("T")


class AccountEntry(MapAttribute):  # type: ignore[type-arg]
    """One live reservation, listed on the group's head and (with account limits) on the account's."""

    owner = UnicodeAttribute()
    key = UnicodeAttribute()  # the owner's slot
    instance = UnicodeAttribute()
    at = NumberAttribute()
    zone = UnicodeAttribute(null=True)  # group head: the instance's Availability Zone, when the check read it


class Head(Model):
    """A group's (or the account's) head: the version every reservation bumps, and what it remembers."""

    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "<group>#head", or "#account"
    version = NumberAttribute(default=0)
    registered = NumberAttribute(null=True)  # group head: instances registered at its last selection
    seen_slots = NumberAttribute(null=True)  # group head: the highest slot count ever used
    reservations = ListAttribute[AccountEntry](of=AccountEntry, null=True)  # the live reservations (group or account)
    starts = ListAttribute[float](of=NumberAttribute, null=True)  # type: ignore[arg-type]  # account head: reservation times, last hour


def needed(group: str, key: str, count: int | None, account: bool) -> bool:
    """Whether a decision must go through the ledger: the group may have several slots (a max_in_flight above 1 or
    a percentage, this execution holds a slot beyond the first, or slots beyond the first were ever used), or the
    account has limits. One slot and no account limits: the slot alone serialises the group's decisions."""
    if account or count != 1 or key != group:
        return True
    current = head(head_key(group))
    return current is not None and int(current.seen_slots or 1) > 1


def head_key(group: str) -> str:
    return f"{group}{HEAD_SUFFIX}"


def head(key: str) -> Head | None:
    try:
        return Head.get(key, consistent_read=True)
    except Head.DoesNotExist:
        return None


@dataclass(frozen=True)
class GroupView:
    """What a decision sees: the group's other live slots, and (with account limits) the account's."""

    version: int
    registered: int | None
    seen_slots: int
    others: list[Held]
    account_version: int | None = None
    account_others: list[Held] = field(default_factory=list)
    account_entries: list[AccountEntry] = field(default_factory=list)
    group_entries: list[AccountEntry] = field(default_factory=list)
    recent_starts: list[float] = field(default_factory=list)


def _held(item: GroupLock) -> Held:
    return Held(owner=item.owner, group=group_of_slot(item.group), instance=item.instance, zone=item.zone,
                reserved=item.reserved_at is not None)


def read(group: str, owner: str, slot_count: int, now: float, account: bool) -> GroupView:
    """The heads first, then the slots (see the module doc: the heads' versions and lists make it sufficient)."""
    group_head = head(head_key(group))
    account_head = head(ACCOUNT_KEY) if account else None
    seen = max(slot_count, int(group_head.seen_slots or 1) if group_head else 1)
    keys = [slot_key(group, i) for i in range(seen)]
    listed = list(group_head.reservations or []) if group_head else []
    entries = list(account_head.reservations or []) if account_head else []
    items = {item.group: item for item in slots(keys + [e.key for e in listed] + [e.key for e in entries])}

    def live(entry: AccountEntry) -> bool:
        # Live while its owner still holds the slot it reserved on. Not "while the slot says reserved": the slot's
        # read may come before the transaction the head's read came after (module doc). A released or taken-over
        # slot is gone from every later read: that reservation is over.
        return entry.owner != owner and entry.key in items and items[entry.key].owner == entry.owner

    by_slot = {k: _held(items[k]) for k in keys if k in items and items[k].owner != owner}
    group_live = [e for e in listed if live(e)]
    for e in group_live:
        if not by_slot.get(e.key, _held_nothing).out_of_service:
            by_slot[e.key] = Held(e.owner, group, e.instance, e.zone, True)
    account_live = [e for e in entries if live(e)]
    account_others = [Held(e.owner, group_of_slot(e.key), e.instance, None, True) for e in account_live]
    starts = [float(t) for t in (account_head.starts or []) if now - float(t) < HOUR_SECONDS] if account_head else []
    # A Retry after our own reservation committed (its answer lost) decides again: our start is the one our slot's
    # reserved_at records; it is replaced by the new one, not counted against us, nor twice.
    for item in (items[k] for k in keys if k in items and items[k].owner == owner):
        if item.reserved_at is not None and float(item.reserved_at) in starts:
            starts.remove(float(item.reserved_at))
    return GroupView(version=int(group_head.version) if group_head else 0,
                     registered=int(group_head.registered) if group_head and group_head.registered is not None
                     else None, seen_slots=seen, others=list(by_slot.values()),
                     account_version=(int(account_head.version) if account_head else 0) if account else None,
                     account_others=account_others, account_entries=account_live, group_entries=group_live,
                     recent_starts=starts)


_held_nothing = Held(owner="", group="", instance=None, zone=None, reserved=False)


def _version_is(version: int) -> object:
    """The head still at the version the decision read (0: no reservation ever bumped it; the item may not exist,
    or hold only what note_slots/note_registered wrote)."""
    return Head.version == version if version else (Head.version.does_not_exist() | (Head.version == 0))


def _connection() -> Connection:
    """The lock table model's own connection (its region, its one attempt per call, and the client the local
    runtime records and faults)."""
    return GroupLock._get_connection().connection


# A transaction cancelled for one of these was overtaken (another reservation committed, or is committing, on a head):
# decide again. "TransactionConflict": "Transaction is ongoing for the item" (TransactionCanceledException,
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
_OVERTAKEN = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
# Throttled: the state machine's Retry backs off (deciding again at once would only add load).
_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def _reasons(exc: TransactWriteError) -> list[str]:
    return [r.code if r is not None else "None" for r in (exc.cancellation_reasons or [])]


def _cancelled_by_versions(exc: TransactWriteError) -> bool:
    reasons = _reasons(exc)
    return any(r in _OVERTAKEN for r in reasons[1:]) or (bool(reasons) and reasons[0] == "TransactionConflict")


def _throttled(exc: TransactWriteError) -> bool:
    return any(r in _THROTTLED for r in _reasons(exc))


def _slot_not_ours(exc: TransactWriteError) -> bool:
    reasons = _reasons(exc)
    return bool(reasons) and reasons[0] == "ConditionalCheckFailed"


def reserve(group: str, key: str, owner: str, instance_id: str, zone: str | None, now: float,
            slot_count: int, account: bool, registered: int,
            decide: Callable[[GroupView], T | None]) -> tuple[GroupView, T | None]:
    """Decide with the ledger in view and, when ``decide`` finds nothing against it (None), reserve
    ``instance_id`` on our slot ``key`` in one transaction with the head versions the decision read. Returns the
    view decided on and the refusal (None: reserved). Raises LockLost when the slot is not ours any more, and
    AwsThrottled after MAX_ATTEMPTS decisions overtaken by others."""
    for _ in range(MAX_ATTEMPTS):
        view = read(group, owner, slot_count, now, account)
        refusal = decide(view)
        if refusal is not None:
            return view, refusal
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.update(GroupLock(key), actions=[GroupLock.instance.set(instance_id),
                                                            GroupLock.zone.set(zone) if zone else
                                                            GroupLock.zone.remove(),
                                                            GroupLock.reserved_at.set(now)],
                                   condition=owned_by(owner))
                listed = [*view.group_entries, AccountEntry(owner=owner, key=key, instance=instance_id, at=now,  # type: ignore[no-untyped-call]
                                                            zone=zone)]
                transaction.update(Head(head_key(group)),
                                   actions=[Head.version.set(view.version + 1), Head.registered.set(registered),
                                            Head.reservations.set(listed)],
                                   condition=_version_is(view.version))  # type: ignore[arg-type]
                if account:
                    entries = [*view.account_entries, AccountEntry(owner=owner, key=key, instance=instance_id, at=now)]  # type: ignore[no-untyped-call]
                    transaction.update(Head(ACCOUNT_KEY),
                                       actions=[Head.version.set((view.account_version or 0) + 1),
                                                Head.reservations.set(entries),
                                                Head.starts.set([*view.recent_starts, now])],
                                       condition=_version_is(view.account_version or 0))  # type: ignore[arg-type]
        except TransactWriteError as exc:
            if getattr(exc, "cause_response_code", None) != "TransactionCanceledException":
                raise
            if _slot_not_ours(exc):
                raise LockLost(f"slot {key} of {group} is no longer held by this execution") from exc
            if _throttled(exc):
                raise AwsThrottled(f"the capacity ledger of group {group}: the reservation was throttled "
                                   f"({', '.join(_reasons(exc))}); the state machine retries with back-off") from exc
            if _cancelled_by_versions(exc):
                continue
            raise
        return view, None
    raise AwsThrottled(f"the capacity ledger of group {group}: {MAX_ATTEMPTS} decisions in a row were overtaken by "
                       "other remediations' reservations; the state machine retries with back-off")


def note_registered(group: str, registered: int) -> None:
    """Remember the group's registered instances at a selection: a percentage max_in_flight resolves against it
    when slots are taken. No version bump: it changes no reservation's decision."""
    Head(head_key(group)).update(actions=[Head.registered.set(registered)])


def note_slots(group: str, slot_count: int) -> None:
    """Remember the highest slot count ever used (every decision reads that many slots, even after max_in_flight
    was lowered while remediations ran). Written when the slot is taken, before its remediation can reserve."""
    if slot_count <= 1:
        return
    try:
        Head(head_key(group)).update(actions=[Head.seen_slots.set(slot_count)],
                                     condition=Head.seen_slots.does_not_exist() | (Head.seen_slots < slot_count))
    except UpdateError as exc:
        if not tables.conditional_check_failed(exc):
            raise
