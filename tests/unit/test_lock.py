"""GIVEN the lock table (moto DynamoDB) WHEN executions race for a group THEN exactly one holds it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from nightshift.runtime.moto_gaps import serialize_dynamodb_writes
from steps.store import lock

ALIVE = "RUNNING"


@pytest.fixture
def table() -> Iterator[None]:
    # DynamoDB makes conditional writes atomic; moto does not across threads (the runtime's fix).
    serialize_dynamodb_writes()
    with mock_aws():
        lock.GroupLock.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield


def status_of(statuses: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda arn: statuses.get(arn, "GONE")


def test_a_free_lock_is_acquired_and_released(table: None) -> None:
    outcome = lock.acquire("web", "exec-a", now=1000, lease_seconds=600, execution_status=status_of({}))
    assert outcome.acquired and outcome.expires_at == 1600
    assert lock.holder("web").owner == "exec-a"  # type: ignore[union-attr]
    assert lock.release("web", "exec-a") is True
    assert lock.holder("web") is None


def test_a_live_holder_keeps_the_lock(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    outcome = lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": ALIVE}))
    assert not outcome.acquired
    assert outcome.holder == "exec-a" and outcome.holder_expires_at == 1600


def test_the_owner_re_enters_its_own_lock(table: None) -> None:
    # A Retry or a redrive of the same execution must not lock itself out.
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    assert lock.acquire("web", "exec-a", 1200, 600, status_of({"exec-a": ALIVE})).acquired


def test_an_expired_lease_is_free_even_if_ttl_never_deleted_it(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    outcome = lock.acquire("web", "exec-b", 1601, 600, status_of({"exec-a": ALIVE}))
    assert outcome.acquired and outcome.took_over_from is None


def test_an_owner_describe_execution_cannot_see_is_live_only_while_its_lock_is_young(table: None) -> None:
    # DescribeExecution is eventually consistent: a just-started owner can read as ExecutionDoesNotExist.
    lock.acquire("web", "exec-a", 1000, 7200, status_of({}))
    young = lock.acquire("web", "exec-b", 1000 + lock.MISSING_OWNER_GRACE_SECONDS - 1, 7200, status_of({}))
    assert not young.acquired and young.holder == "exec-a"
    old = lock.acquire("web", "exec-b", 1000 + lock.MISSING_OWNER_GRACE_SECONDS, 7200, status_of({}))
    assert old.acquired and old.took_over_from == "exec-a"


def test_a_stale_owner_is_taken_over_before_its_lease_ends(table: None) -> None:
    # GIVEN exec-a crashed (FAILED) while holding an unexpired lease
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    outcome = lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": "FAILED"}))
    assert outcome.acquired and outcome.took_over_from == "exec-a"
    assert lock.holder("web").owner == "exec-b"  # type: ignore[union-attr]


def test_pending_redrive_counts_as_alive(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    assert not lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": "PENDING_REDRIVE"})).acquired


def test_release_by_a_non_owner_changes_nothing(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    assert lock.release("web", "exec-b") is False
    assert lock.holder("web").owner == "exec-a"  # type: ignore[union-attr]
    assert lock.release("web", "exec-a") is True
    assert lock.release("web", "exec-a") is False  # already gone counts as released


@pytest.mark.parametrize("stale", [False, True])
def test_concurrent_acquirers_exactly_one_wins(table: None, stale: bool) -> None:
    # GIVEN (optionally) a stale lock left by a dead execution, and 12 executions racing for it
    if stale:
        lock.acquire("web", "dead", 1000, 600, status_of({}))
    statuses = {"dead": "FAILED", **{f"exec-{n}": ALIVE for n in range(12)}}
    outcomes: list[lock.LockOutcome] = []
    barrier = threading.Barrier(12)

    def contend(n: int) -> None:
        barrier.wait()
        outcomes.append(lock.acquire("web", f"exec-{n}", 1100, 600, status_of(statuses)))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.acquired]
    assert len(winners) == 1
    assert lock.holder("web").owner == winners[0].owner  # type: ignore[union-attr]
    assert all(o.holder == winners[0].owner for o in outcomes if not o.acquired)


def test_the_lease_and_its_housekeeping_written_by_hand(table: None) -> None:
    # GIVEN exec-a holds [1000, 1600) and is alive
    first = lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    assert first.acquired is True and first.expires_at == 1600 and first.took_over_from is None
    held = lock.holder("web")
    assert held is not None
    assert (held.acquired_at, held.expires_at, held.purge_at.timestamp()) == (1000, 1600, 1600 + 86400)
    # WHEN exec-b asks at the very instant the lease ends: not expired yet (expires_at < now frees it)
    at_the_end = lock.acquire("web", "exec-b", 1600, 600, status_of({"exec-a": ALIVE}))
    assert at_the_end.acquired is False and at_the_end.holder == "exec-a" and at_the_end.holder_expires_at == 1600
    # THEN one second later it is free, and the new lease is exec-b's, from then
    after = lock.acquire("web", "exec-b", 1601, 600, status_of({"exec-a": ALIVE}))
    assert after.acquired is True and after.expires_at == 2201


def test_a_takeover_reports_the_new_lease(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    outcome = lock.acquire("web", "exec-b", 1100, 300, status_of({"exec-a": "FAILED"}))
    assert (outcome.acquired, outcome.owner, outcome.took_over_from, outcome.expires_at) == (
        True, "exec-b", "exec-a", 1400)
    held = lock.holder("web")
    assert held is not None
    assert (held.owner, held.expires_at, held.purge_at.timestamp()) == ("exec-b", 1400, 1400 + 86400)


# Races DynamoDB allows between two of acquire's requests, played deterministically: a wrapper around the
# conditional put (or the execution-status callback, called between the read and the takeover) changes the
# table the way another execution would at that instant.

def test_a_holder_that_releases_between_our_put_and_our_read_leaves_the_lock_to_us(
        table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    real_put = lock._put

    def put_then_holder_releases(*args, **kwargs):  # type: ignore[no-untyped-def]
        done = real_put(*args, **kwargs)
        if not done:
            assert lock.release("web", "exec-a")  # exec-a finishes right after refusing us
        return done

    monkeypatch.setattr(lock, "_put", put_then_holder_releases)
    outcome = lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": ALIVE}))
    assert outcome == lock.LockOutcome(True, "exec-b", expires_at=1700, key="web")
    held = lock.holder("web")
    assert held is not None and (held.owner, held.acquired_at, held.expires_at) == ("exec-b", 1100, 1700)


def test_a_lock_that_keeps_vanishing_under_us_is_not_acquired_and_says_so(
        table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    real_put = lock._put
    calls: list[str] = []

    def put_between_comings_and_goings(group: str, owner: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(owner)
        if len(calls) > 1:  # someone else took it again before our second try
            assert real_put("web", "exec-c", 1100, 600, lock.lock_is_free())
        done = real_put(group, owner, *args, **kwargs)
        lock.GroupLock("web").delete()  # and let it go right after refusing us
        return done

    monkeypatch.setattr(lock, "_put", put_between_comings_and_goings)
    outcome = lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": ALIVE, "exec-c": ALIVE}))
    assert outcome == lock.LockOutcome(False, "exec-b", holder="unknown")
    assert calls == ["exec-b", "exec-b"]  # two tries, no more


def test_a_stale_lock_taken_over_by_another_first_is_theirs(table: None) -> None:
    # GIVEN exec-a died holding the lock; WHEN exec-b reads it stale, exec-c takes it over before exec-b can
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))

    def status_while_exec_c_takes_over(arn: str) -> str:
        if arn == "exec-a":
            assert lock.acquire("web", "exec-c", 1050, 900, status_of({"exec-a": "FAILED"})).acquired
            return "FAILED"
        return ALIVE

    outcome = lock.acquire("web", "exec-b", 1100, 600, status_while_exec_c_takes_over)
    # THEN exec-b does not get it, and names the winner and its lease
    assert outcome == lock.LockOutcome(False, "exec-b", holder="exec-c", holder_expires_at=1950)
    assert lock.holder("web").owner == "exec-c"  # type: ignore[union-attr]


def test_a_stale_lock_taken_over_by_another_who_has_released_already_is_not_ours_and_names_no_holder(
        table: None) -> None:
    # GIVEN exec-a died holding the lock; exec-c takes it over before exec-b can, and releases it again before
    # exec-b reads who won: exec-b does not get it this time (the next attempt will) and names no holder
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    real_holder = lock.holder

    def status_while_exec_c_comes_and_goes(arn: str) -> str:
        if arn == "exec-a":
            assert lock.acquire("web", "exec-c", 1050, 900, status_of({"exec-a": "FAILED"})).acquired
            assert real_holder("web").owner == "exec-c"  # type: ignore[union-attr]
            return "FAILED"
        return ALIVE

    def holder_after_exec_c_released(group: str):  # type: ignore[no-untyped-def]
        assert lock.release(group, "exec-c")
        return real_holder(group)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lock, "holder", holder_after_exec_c_released)
        outcome = lock.acquire("web", "exec-b", 1100, 600, status_while_exec_c_comes_and_goes)
    assert outcome == lock.LockOutcome(False, "exec-b", holder="unknown", holder_expires_at=None)
    assert lock.holder("web") is None


def test_a_live_holder_outcome_in_full(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    assert lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": ALIVE})) == lock.LockOutcome(
        False, "exec-b", holder="exec-a", holder_expires_at=1600)
    assert lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": "SUCCEEDED"})) == lock.LockOutcome(
        True, "exec-b", took_over_from="exec-a", expires_at=1700)


def test_a_renewal_in_full(table: None) -> None:
    lock.acquire("web", "exec-a", 1000, 300, status_of({}))
    assert lock.renew("web", "exec-a", 1250, 900.5) == lock.Renewal(True, expires_at=2150.5)
    held = lock.holder("web")
    assert held is not None and (held.expires_at, held.purge_at.timestamp()) == (2150.5, 2150 + 86400)
    assert lock.renew("web", "exec-b", 1300, 900) == lock.Renewal(False, holder="exec-a")
    lock.release("web", "exec-a")
    assert lock.renew("web", "exec-a", 1300, 900) == lock.Renewal(False)


def test_every_read_of_the_lock_is_strongly_consistent(table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # An eventually consistent GetItem may miss a write that just won the lock (moto is always consistent, so
    # the request itself is what can be checked): every read acquire, renew and holder make asks for consistency.
    reads: list[object] = []
    real_get = lock.GroupLock.get.__func__  # type: ignore[attr-defined]

    def get(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(kwargs.get("consistent_read"))
        return real_get(cls, *args, **kwargs)

    monkeypatch.setattr(lock.GroupLock, "get", classmethod(get))
    lock.acquire("web", "exec-a", 1000, 600, status_of({}))
    lock.acquire("web", "exec-b", 1100, 600, status_of({"exec-a": ALIVE}))  # read: a live holder

    def status_while_exec_c_takes_over(arn: str) -> str:
        if arn == "exec-a":
            lock.GroupLock("web", owner="exec-c", acquired_at=1100, expires_at=1700,
                           purge_at=datetime.fromtimestamp(0, UTC)).save()
        return "FAILED"

    lock.acquire("web", "exec-b", 1100, 600, status_while_exec_c_takes_over)  # two reads: stale, then the winner
    lock.holder("web")
    lock.renew("web", "exec-b", 1200, 600)  # not ours: reads who holds it
    assert reads == [True, True, True, True, True]


def test_a_full_group_asks_step_functions_about_at_most_two_holders(table: None) -> None:
    # fifty slots held by live remediations: a start that finds none free must not describe fifty executions
    for n in range(50):
        assert lock.acquire("web", f"exec-{n}", 1000 + n, 7200, status_of({}), max_slots=50, seen_slots=50).acquired
    asked: list[str] = []

    def status(arn: str) -> str:
        asked.append(arn)
        return ALIVE

    outcome = lock.acquire("web", "late", 1100, 7200, status, max_slots=50, seen_slots=50)
    assert not outcome.acquired and len(outcome.holders) == 50
    assert asked == ["exec-0", "exec-1"]  # the longest-held two


def test_a_full_group_takes_over_the_slot_of_a_holder_that_no_longer_runs(table: None) -> None:
    for n in range(3):
        lock.acquire("web", f"exec-{n}", 1000 + n, 7200, status_of({}), max_slots=3, seen_slots=3)
    outcome = lock.acquire("web", "late", 1500, 7200, status_of({"exec-0": "FAILED", "exec-1": ALIVE,
                                                                  "exec-2": ALIVE}), max_slots=3, seen_slots=3)
    assert outcome.acquired and outcome.took_over_from == "exec-0" and outcome.key == "web"
    # and a free slot is taken without asking about anyone
    lock.release("web#slot2", "exec-2")
    asked: list[str] = []
    assert lock.acquire("web", "later", 1600, 7200, lambda arn: asked.append(arn) or ALIVE, max_slots=3,
                        seen_slots=3).key == "web#slot2"
    assert asked == []
