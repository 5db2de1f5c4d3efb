"""Step: take a slot of the group's lease, so that at most ``max_in_flight`` remediations of the group run at once
(one, by default: the lock). docs/design.md "The group lock" and "Several at once"."""

from __future__ import annotations

import contextlib
from typing import Any

from steps.aws.stepfunctions import execution_status
from steps.core.entrypoint import StepContext, step
from steps.core.reasons import Reason
from steps.domain.history import ALARM_QUEUE_POLL_SECONDS
from steps.domain.lifecycle import may
from steps.store import ledger, lifecycle, lock


@step
def acquire_group_lock(ctx: StepContext) -> dict[str, Any]:
    group = ctx.group
    share = group.in_flight
    head = ledger.head(ledger.head_key(group.name)) if share.count != 1 else None
    registered = int(head.registered) if head is not None and head.registered is not None else None
    seen = int(head.seen_slots) if head is not None and head.seen_slots is not None else 1
    slots = share.of(registered)
    outcome = lock.acquire(group.name, ctx.execution_id, ctx.now, group.lock_lease_seconds, execution_status,
                           max_slots=slots, seen_slots=seen)
    if outcome.acquired:
        key = outcome.key or group.name
        try:
            return _acquired(ctx, outcome, key, slots)
        except Exception:
            # The state machine's Catch cannot know which slot this was (the step's answer is lost): give it back
            # here, or it stays held until its lease expires (best effort: the reconciler frees it otherwise).
            with contextlib.suppress(Exception):  # the original error is the one to report
                lock.release(key, ctx.execution_id)
            raise
    holders = list(outcome.holders) or [h for h in [outcome.holder] if h]
    queued = _queue(ctx, slots, holders, outcome.holder)
    if queued is not None:
        return queued
    if slots > 1:
        reason = (f"{len(holders)} remediations of {group.name} hold all {slots} slots (max_in_flight "
                  f"{share.text()}); doing nothing")
    else:
        reason = f"another remediation of {group.name} holds the lock ({outcome.holder}); doing nothing"
    extra: dict[str, Any] = {"holders": holders, "slots": slots} if slots > 1 else {}
    if ctx.state.lock is not None and ctx.state.lock.queued_since is not None:
        waited = ctx.now - ctx.state.lock.queued_since
        reason += f" (waited {waited:.0f} s of alarm_queue_seconds {group.alarm_queue_seconds} for a free slot)"
        extra["waited_seconds"] = waited
    ctx.audit(Reason.SKIPPED_LOCKED, reason, holder=outcome.holder, holder_expires_at=outcome.holder_expires_at,
              **extra)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if may(record.state, "skip"):
        lifecycle.advance(record, "skip", {"reason": "locked", "holder": outcome.holder}, ctx.now, ctx.execution_id)
    return {"acquired": False, "holder": outcome.holder, "key": group.name}


def _acquired(ctx: StepContext, outcome: lock.LockOutcome, key: str, slots: int) -> dict[str, Any]:
    group = ctx.group
    index = int(key.rsplit(lock.SLOT_SEPARATOR, 1)[1]) if lock.SLOT_SEPARATOR in key else 0
    ledger.note_slots(group.name, index + 1)
    slot: dict[str, Any] = {"slot": key, "slots": slots} if slots > 1 or key != group.name else {}
    if outcome.took_over_from:
        ctx.audit(Reason.LOCK_TAKEN_OVER,
                  f"took over the lock of {group.name} from {outcome.took_over_from}, which is no longer "
                  "running", previous_owner=outcome.took_over_from, expires_at=outcome.expires_at, **slot)
    else:
        ctx.audit(Reason.LOCK_ACQUIRED, f"acquired the lock of {group.name} until {outcome.expires_at:.0f}"
                  + (f" (slot {index + 1} of {slots})" if slot else ""), expires_at=outcome.expires_at, **slot)
    return {"acquired": True, "expires_at": outcome.expires_at, "key": key}


def _queue(ctx: StepContext, slots: int, holders: list[str], holder: str | None) -> dict[str, Any] | None:
    """An alarm fires once: its remediation, finding every slot held, waits for one (the state machine Waits
    ``ALARM_QUEUE_POLL_SECONDS`` and acquires again) until ``alarm_queue_seconds`` after it first found none,
    audited QUEUED once. None: not queued (another trigger, or the time is up: SKIPPED_LOCKED)."""
    group, request = ctx.group, ctx.state.request
    if request.trigger != "alarm" or request.replay_of or group.alarm_queue_seconds <= 0:
        return None
    previous = ctx.state.lock.queued_since if ctx.state.lock is not None else None
    since = previous if previous is not None else ctx.now
    until = since + group.alarm_queue_seconds
    if ctx.now >= until:
        return None
    if previous is None:
        ctx.audit(Reason.QUEUED, f"{len(holders)} remediation(s) of {group.name} hold all {slots} slot(s); this "
                  f"alarm's remediation waits for a free one until {until:.0f} (alarm_queue_seconds "
                  f"{group.alarm_queue_seconds}), looking every {ALARM_QUEUE_POLL_SECONDS} s",
                  holders=holders, slots=slots, until=until)
    return {"acquired": False, "queue": True, "retry_seconds": ALARM_QUEUE_POLL_SECONDS, "queued_since": since,
            "holder": holder, "key": group.name}


handler = acquire_group_lock
