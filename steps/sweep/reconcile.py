"""Sweep step: heal what crashed remediations left behind, before anything new starts.

For every group: an instance the audit trail shows Nightshift took out of service (DEREGISTERED) with no
later RESTORED/HEALTHY, whose remediation has no live execution, is registered back in every target group
its lifecycle record lists (started first if an escalation left it stopped, out of Auto Scaling Standby);
an instance put in Standby (STANDBY_ENTERED) whose ExitStandby never happened is taken out of Standby; a
lock whose owner execution is no longer running is released (conditionally on that owner), and so is an
instance claim (steps/store/claim.py) whose owner no longer runs. So a crash in the worst place heals itself
on the next sweep. A Spot instance EC2 stopped or hibernated (parked by the termination drain,
steps/store/parked.py) is registered back in the target groups it left once EC2 reports it running again
(``restore_parked``).

Bounded: each sweep reads each group's audit trail once, only after the group's cursor (by key
condition, a page at a time), folding it into the group's set of open remediations (steps/store/
reconcile_progress.py), which is saved after every page. It stops when the Lambda's remaining time runs
low, audits RECONCILE_INCOMPLETE with what remains, and the next sweep continues from the cursor. Complete:
a remediation leaves the open set only on a closing event or when its lifecycle record shows nothing left
for the reconciler to do, so one opened long before the cursor is still found. Records from the last
SETTLE_SECONDS are read every sweep but not folded into the saved set (a step may write a record up to a
Lambda lifetime after its timestamp, so the cursor never passes a time someone may still write at)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from steps.aws import ec2, elbv2
from steps.aws.errors import code_behind
from steps.aws.stepfunctions import execution_status
from steps.core import clock, groups
from steps.core.exceptions import (
    AwsCallFailed,
    AwsThrottled,
    AwsUnavailable,
    ConfigurationError,
    InvalidRequest,
    LifecycleConflict,
)
from steps.core.observability import EXECUTION_ID, logger, record_metrics, tracer
from steps.core.reasons import Reason
from steps.domain.lifecycle import may
from steps.remediate import put_back
from steps.remediate.standby import EXITED, WAITING, leave_standby
from steps.store import audit, claim, ledger, lifecycle, lock, parked, reconcile_progress, terminating
from steps.store import errors as store_errors
from steps.store.lock import LIVE_EXECUTION_STATES

LOOKBACK_SECONDS = 14 * 86400  # a group with no progress yet starts this far back (redrivable history)
BACK_IN_SERVICE = {Reason.RESTORED, Reason.HEALTHY, Reason.RECONCILED}
# opening event -> the events that close it
OPENS = {Reason.DEREGISTERED: BACK_IN_SERVICE, Reason.STANDBY_ENTERED: {Reason.STANDBY_EXITED}}
PAGE_SIZE = 200  # audit records per Query page
# No Lambda runs longer than 15 minutes, so no step writes a record later than that after its timestamp.
SETTLE_SECONDS = 900
RESERVE_MS = 20_000  # stop reading and acting with this much time left: save progress, audit, answer
DEFAULT_BUDGET_MS = 90_000  # with no Lambda context (called directly): the function's timeout less the reserve
RETRIES_PER_ITEM = 1  # an item whose call was throttled, failed (5xx) or unanswered is tried again at once
# AWS errors that pass: a group that ends failed only by these makes the handler raise once every group is done,
# so the sweep's Retry runs the (idempotent) reconcile again with back-off; only if that keeps failing does the
# Catch record and announce it (summarise-sweep).
TRANSIENT = (AwsThrottled, AwsUnavailable)
NEVER_BACK = ("left_out", "replaced")  # deliberately out, or gone


class ReconcileEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution_id: str


class Budget:
    """The time left: the Lambda context's when there is one, else DEFAULT_BUDGET_MS from the start."""

    def __init__(self, context: Any) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._remaining = remaining if callable(remaining) else None
        self._deadline = time.monotonic() + DEFAULT_BUDGET_MS / 1000

    def remaining_ms(self) -> float:
        if self._remaining is not None:
            return float(self._remaining())
        return (self._deadline - time.monotonic()) * 1000

    def low(self) -> bool:
        return self.remaining_ms() < RESERVE_MS


class Stopped(Exception):
    """The time budget ran low: save what we know and say what remains."""


def _alive(executions: list[str]) -> bool:
    return any(execution_status(arn) in LIVE_EXECUTION_STATES for arn in executions)


def fold(items: dict[str, dict[str, float]], record: audit.AuditRecord) -> None:
    """One audit record into the open set: an opening event opens its remediation, a closing one closes it."""
    rid = record.remediation_id
    if not rid:
        return
    for opened, closing in OPENS.items():
        if record.event == opened:
            items.setdefault(opened, {})[rid] = float(record.at)
        elif record.event in closing:
            items.get(opened, {}).pop(rid, None)


class GroupRun:
    """One group's reconcile in one sweep: read after the cursor, act on what is open, release a stale lock."""

    def __init__(self, group: str, sweep_execution: str, budget: Budget) -> None:
        self.group = group
        self.sweep_execution = sweep_execution
        self.budget = budget
        self.now = clock.now()
        self.progress: reconcile_progress.ReconcileProgress | None = None  # load() reads it (inside the try)
        self.saved: dict[str, dict[str, float]] = {}  # open remediations as of the cursor
        self.current = self.saved  # plus the unsettled tail, once one is read
        self.records_read = 0
        self.pages = 0
        self.read_all = False
        self.restored: list[str] = []
        self.item_failures: list[dict[str, Any]] = []
        self.standby_exited: list[str] = []
        self.released: str | None = None
        self.lock_checked = False

    def load(self) -> None:
        self.progress = reconcile_progress.load(self.group)
        self.saved = reconcile_progress.open_items(self.progress)
        self.current = self.saved

    def _loaded(self) -> reconcile_progress.ReconcileProgress:
        if self.progress is None:  # reconcile_group calls load() first; this holds under -O too
            raise InvalidRequest(f"reconcile {self.group}: the progress record is used before load() read it")
        return self.progress

    def _save(self) -> None:
        progress = self._loaded()
        progress.open_items = self.saved
        progress.updated_at = self.now
        reconcile_progress.save(progress)

    def read(self) -> None:
        progress = self._loaded()
        settled_before = self.now - SETTLE_SECONDS
        after = progress.cursor or None
        last_key: dict[str, Any] | None = None
        while True:
            if self.budget.low():
                raise Stopped("time budget ran low while reading the audit trail")
            page = audit.page_for_group(self.group, after, self.now - LOOKBACK_SECONDS, PAGE_SIZE, last_key)
            advanced = 0
            for record in page:
                self.records_read += 1
                if self.current is self.saved and float(record.at) < settled_before:
                    fold(self.saved, record)
                    progress.cursor = record.sk
                    advanced += 1
                else:
                    if self.current is self.saved:
                        self.current = copy.deepcopy(self.saved)
                    fold(self.current, record)
            self.pages += 1
            if advanced:
                progress.records_read = int(progress.records_read or 0) + advanced
                self._save()
            last_key = page.last_evaluated_key
            if last_key is None:
                self.read_all = True
                return

    def _drop(self, opened: str, rid: str) -> None:
        for items in (self.saved, self.current):
            items.get(opened, {}).pop(rid, None)

    def act(self) -> None:
        self._each(Reason.DEREGISTERED, _restore, self.restored, "putting instances back")
        self._each(Reason.STANDBY_ENTERED, _finish_standby, self.standby_exited, "ending Standby")
        self._save()

    def _each(self, opened: str, act: Callable[[str, str, float, str], tuple[str | None, bool]], done_ids: list[str],
              doing: str) -> None:
        """Act on every open remediation of one kind; a failing one stays open and is reported (audited
        RECONCILE_FAILED with its cause by ``reconcile_group``), never stops the others (e.g. RegisterTargets
        refusing an instance terminated since: InvalidTarget). A throttled, failed (5xx) or unanswered call is
        tried again at once, RETRIES_PER_ITEM more times (the act is idempotent: registering a registered
        target changes nothing, and an instance EC2 reports starting is not started again); no step sleeps."""
        for rid in list(self.current.get(opened, {})):
            if self.budget.low():
                raise Stopped(f"time budget ran low while {doing}")
            try:
                instance_id, done = _with_retries(act, self.group, rid, self.now, self.sweep_execution)
            except Exception as exc:
                self.item_failures.append({"remediation_id": rid, "error": type(exc).__name__,
                                           "cause": str(exc)[:300], "transient": isinstance(exc, TRANSIENT)})
                continue
            if instance_id is not None:
                done_ids.append(instance_id)
            if done:
                self._drop(opened, rid)

    def item_failure(self) -> dict[str, Any] | None:
        if not self.item_failures:
            return None
        return {"error": "ItemsFailed", "cause": "; ".join(f"{f['remediation_id']}: {f['error']}: {f['cause']}"
                                                           for f in self.item_failures)[:1000],
                "items": [{k: v for k, v in f.items() if k != "transient"} for f in self.item_failures],
                # One item that throttling or an outage failed is worth the sweep's Retry, whatever else failed
                # with it (the others fail again, idempotently; if the Retry runs out, the summary audits and
                # announces all of them).
                "transient": any(f["transient"] for f in self.item_failures), **self.remains()}

    def release_stale_lock(self) -> None:
        """Release every slot of the group's lease whose owner no longer runs (slot 0 and, with max_in_flight above
        1, every slot ever used: the group head's ``seen_slots``)."""
        if self.budget.low():
            raise Stopped("time budget ran low before the stale lock check")
        head = ledger.head(ledger.head_key(self.group))
        seen = int(head.seen_slots) if head is not None and head.seen_slots else 1
        for holder in lock.slots([lock.slot_key(self.group, i) for i in range(seen)]):
            if not lock.owner_may_run(execution_status(holder.owner), float(holder.acquired_at), self.now):
                self._release_stale(holder)
        self.lock_checked = True

    def _release_stale(self, holder: lock.GroupLock) -> None:
        # Audited before the release (once per sweep, however often its Retry runs this): a release whose
        # audit write is then throttled would otherwise leave no record, since a Retry no longer finds the lock.
        if not _audited_by_this_sweep(self.group, Reason.LOCK_RELEASED_STALE, self.sweep_execution, self.now,
                                      holder.owner):
            audit.record(audit.AuditEntry(
                group=self.group, event=Reason.LOCK_RELEASED_STALE, at=self.now, execution_id=self.sweep_execution,
                trigger="schedule",
                reason=f"releasing the lock held by {holder.owner}, which is no longer running (conditionally "
                "on that owner: if it released the lock itself meanwhile, nothing more is done)",
                details={"owner": holder.owner, "expires_at": float(holder.expires_at), "slot": holder.group},
                idempotency_key=f"LOCK_RELEASED_STALE#{holder.owner}#{self.sweep_execution}"))
        if lock.release(holder.group, holder.owner):
            self.released = holder.owner

    def result(self) -> dict[str, Any]:
        return {"restored": self.restored, "standby_exited": self.standby_exited,
                "stale_lock_released": self.released}

    def remains(self) -> dict[str, Any]:
        """What a cut-short run leaves for the next sweep."""
        return {"audit_read_all": self.read_all, "cursor": (self.progress.cursor or None) if self.progress else None,
                "records_read": self.records_read, "pages": self.pages,
                "open_remediations": sorted({rid for ids in self.current.values() for rid in ids}),
                "stale_lock_checked": self.lock_checked}


def _with_retries(act: Callable[[str, str, float, str], tuple[str | None, bool]], group: str, rid: str,
                  now: float, sweep_execution: str) -> tuple[str | None, bool]:
    for attempt in range(RETRIES_PER_ITEM + 1):
        try:
            with store_errors.translated():
                return act(group, rid, now, sweep_execution)
        except AwsUnavailable as exc:
            if exc.waiting:  # e.g. started again after an interrupted stop/start, not running yet: next sweep
                logger.info(f"reconcile {rid}: {exc}; left for the next sweep")  # pragma: no mutate
                return None, False
            if attempt == RETRIES_PER_ITEM:
                raise
            logger.warning(  # pragma: no mutate
                f"reconcile {rid}: {type(exc).__name__}: {exc}; trying it again at once")  # pragma: no mutate
        except AwsThrottled as exc:
            if attempt == RETRIES_PER_ITEM:
                raise
            logger.warning(f"reconcile {rid}: {type(exc).__name__}: {exc}; trying it again at once")
    raise AssertionError("unreachable")


def _audit_and_measure(group: str, event: Reason, now: float, execution: str, reason: str,
                       details: dict[str, Any]) -> None:
    audit.record(audit.AuditEntry(group=group, event=event, at=now, execution_id=execution, trigger="schedule",
                                  reason=reason, details=details))
    logger.warning(reason, extra={"audit_event": event, "details": details})
    record_metrics(group, event, details)


# How far back a sweep's earlier attempts can be: up to 9 runs of the reconcile Task (its Retry allows 8 more)
# of at most its 150 s timeout, and the back-off between them.
SWEEP_ATTEMPTS_SECONDS = 3600


def _audited_by_this_sweep(group: str, event: Reason, execution: str, now: float, owner: str | None = None) -> bool:
    """Whether an earlier attempt of this sweep execution (the sweep's Retry runs the reconcile again) already
    wrote ``event`` for ``group`` (for ``owner``, when given). A read that fails answers False: a duplicate
    record is better than a lost one."""
    try:
        with store_errors.translated():
            return any(r.event == event and r.execution_id == execution
                       and (owner is None or (r.details or {}).get("owner") == owner)
                       for r in audit.for_group(group, since=now - SWEEP_ATTEMPTS_SECONDS))
    except Exception as exc:
        logger.warning(f"could not check for an earlier {event}; writing it",  # pragma: no mutate
                       extra={"error": repr(exc)})  # pragma: no mutate
        return False


def _audit_failed_once(group: str, now: float, execution: str, reason: str, details: dict[str, Any]) -> None:
    """RECONCILE_FAILED for ``group``, once per sweep execution: when another group's transient failure makes
    the sweep's Retry run the reconcile again, a failure retrying cannot cure is found again on every attempt;
    it is audited (and measured) by the first only."""
    if _audited_by_this_sweep(group, Reason.RECONCILE_FAILED, execution, now):
        logger.info("reconcile failure already audited by an earlier attempt",  # pragma: no mutate
                    extra={"group": group})  # pragma: no mutate
        return
    _audit_and_measure(group, Reason.RECONCILE_FAILED, now, execution, reason, details)


def _record(group: str, event: Reason, now: float, execution: str, remediation_id: str, instance_id: str | None,
            reason: str, **details: Any) -> None:
    """Idempotent within one reconcile run (``now`` is the run's): an item tried again after a throttled write
    leaves one record, not none and not two."""
    audit.record(audit.AuditEntry(group=group, event=event, at=now, instance_id=instance_id, execution_id=execution,
                                  remediation_id=remediation_id, trigger="schedule", reason=reason, details=details,
                                  idempotency_key=f"{event}#{remediation_id}#{execution}"))


def _restore(group: str, remediation_id: str, now: float, sweep_execution: str) -> tuple[str | None, bool]:
    """(the instance put back or None, whether the remediation needs nothing more from the reconciler)."""
    try:
        record = lifecycle.load(remediation_id)
    except LifecycleConflict:  # no record (expired): nothing the reconciler could put back
        return None, True
    if _alive(record.executions):
        return None, False  # its own execution puts it back
    if not may(record.state, "restore"):
        return None, True  # back in service, failed after its restore, or deliberately out: a reopen audits anew
    result = put_back.put_back(record.facts or {})
    if result.instance_id is None:
        return None, True  # the record holds no deregistration to undo
    # Audited before the lifecycle moves on: if a write below is throttled, the item is tried again while the
    # record still says it is out, so the audit is written (once: idempotent) rather than lost.
    done = (f"{result.instance_id} no longer exists ({result.gone}): nothing to put back, closed" if result.gone
            else f"{result.instance_id} is being terminated ({result.terminating}): not put back, closed"
            if result.terminating else f"registered back in {len(result.target_groups)} target group(s)")
    _record(group, Reason.RECONCILED, now, sweep_execution, remediation_id, result.instance_id,
            f"{result.instance_id} was left out of service by {record.executions[-1]} (no longer running): {done}",
            lifecycle_state=record.state, executions=record.executions, **result.numbers())
    if result.standby == EXITED:
        _record(group, Reason.STANDBY_EXITED, now, sweep_execution, remediation_id, result.instance_id,
                f"{result.instance_id} left Auto Scaling Standby")
    try:
        lifecycle.advance(record, "restore", {"error": "reconciled", **result.numbers()}, now, sweep_execution)
    except LifecycleConflict:
        # Another reconciler (two sweeps at once: a manual one and the schedule) closed it between our read and
        # our write; the put-back is idempotent, so that is done, not a failure. Anything else is.
        if may(lifecycle.load(remediation_id).state, "restore"):
            raise
        logger.info(f"reconcile {remediation_id}: closed by another reconciler meanwhile")  # pragma: no mutate
    return (None if result.gone or result.terminating else result.instance_id), True


def _finish_standby(group: str, remediation_id: str, now: float, sweep_execution: str) -> tuple[str | None, bool]:
    """A restore that found the instance still EnteringStandby left ExitStandby for later: now."""
    try:
        record = lifecycle.load(remediation_id)
    except LifecycleConflict:
        return None, True
    if _alive(record.executions):
        return None, False  # running: its own execution ends the Standby
    if record.state in NEVER_BACK:
        return None, True  # deliberately out / gone
    deregistration = (record.facts or {}).get("deregister") or {}
    instance_id = deregistration.get("instance_id")
    if not instance_id:
        return None, True
    outcome = leave_standby(instance_id, deregistration.get("standby"))
    if outcome == WAITING:
        return None, False  # still EnteringStandby: the next sweep
    if outcome == EXITED:
        _record(group, Reason.STANDBY_EXITED, now, sweep_execution, remediation_id, instance_id,
                f"{instance_id} left Auto Scaling Standby that {record.executions[-1]} could not end")
        return str(instance_id), True
    return None, True  # in service, or the ASG owns it now


def reconcile_group(group: str, sweep_execution: str, budget: Budget | None = None) -> dict[str, Any]:
    """The group's result; with ``incomplete`` (cut short, audited RECONCILE_INCOMPLETE) or ``failed``
    (raised, audited RECONCILE_FAILED) only when it did not finish."""
    run = GroupRun(group, sweep_execution, budget or Budget(None))
    try:
        with store_errors.translated():  # a throttled table is AwsThrottled (transient), not an unknown failure
            run.load()
            run.read()
            run.act()
            run.release_stale_lock()  # whatever the items did
            if not run.remains()["open_remediations"] and not run.item_failures:
                reconcile_progress.clear_work(group, run.now)  # nothing left open: the marker has done its job
        failure = run.item_failure()
        if failure is not None and failure["transient"]:
            return {**run.result(), "failed": failure}  # the handler raises: the sweep's Retry runs it again
        if failure is not None:
            _audit_failed_once(group, run.now, sweep_execution,
                               f"reconcile of {group}: {len(run.item_failures)} remediation(s) could not be put "
                               f"back and stay open for the next sweep: {failure['cause']}", failure)
            return {**run.result(), "failed": failure}
    except (Stopped, reconcile_progress.ProgressConflict) as exc:
        remains = {"cause": str(exc), **run.remains()}
        _audit_and_measure(group, Reason.RECONCILE_INCOMPLETE, run.now, sweep_execution,
                           f"reconcile of {group} cut short ({exc}): {len(remains['open_remediations'])} open "
                           f"remediation(s) and {'no' if run.read_all else 'more'} unread audit left for the next "
                           "sweep", remains)
        return {**run.result(), "incomplete": remains}
    except Exception as exc:  # one group's failure must not hide the others': audited, and the sweep says so
        failure = {"error": type(exc).__name__, "cause": str(exc)[:1000], **run.remains()}
        if isinstance(exc, TRANSIENT):
            return {**run.result(), "failed": {**failure, "transient": True}}  # the handler raises (Retry)
        _audit_failed_once(group, run.now, sweep_execution, f"reconcile of {group} failed: {type(exc).__name__}: {exc}",
                           failure)
        return {**run.result(), "failed": failure}
    logger.info("reconciled group",  # pragma: no mutate
                extra={"group": group, "records_read": run.records_read, "pages": run.pages})  # pragma: no mutate
    return run.result()


def _reconcile_one(group: str, sweep_execution: str, budget: Budget) -> dict[str, Any]:
    """reconcile_group, with a transient failure of its own audit writes (RECONCILE_FAILED/INCOMPLETE) kept to
    this group: the others still run, and the handler raises for the Retry."""
    try:
        with store_errors.translated():
            return reconcile_group(group, sweep_execution, budget)
    except TRANSIENT as exc:
        return {"restored": [], "standby_exited": [], "stale_lock_released": None,
                "failed": {"error": type(exc).__name__, "cause": str(exc)[:1000], "transient": True}}


def release_stale_claims(sweep_execution: str, budget: Budget) -> list[str]:
    """Delete every instance claim whose owner execution no longer runs (conditionally on that owner, so a
    claim released and taken again since the scan is left alone), audited CLAIM_RELEASED_STALE in the group
    that held it. A live owner's claim stays, however old. Returns the instances released."""
    now = clock.now()
    released: list[str] = []
    for item in claim.all_claims():
        if budget.low():
            raise Stopped("time budget ran low while releasing stale instance claims")
        instance_id = item.group.removeprefix(claim.PREFIX)
        if lock.owner_may_run(execution_status(item.owner), float(item.acquired_at), now):
            continue
        # Audited before the release (once per sweep), as the stale lock is.
        if not _audited_by_this_sweep(item.claimed_for, Reason.CLAIM_RELEASED_STALE, sweep_execution, now, item.owner):
            audit.record(audit.AuditEntry(
                group=item.claimed_for, event=Reason.CLAIM_RELEASED_STALE, at=now, instance_id=instance_id,
                execution_id=sweep_execution, remediation_id=item.remediation_id, trigger="schedule",
                reason=f"releasing the claim on {instance_id} held by {item.owner}, which is no longer running "
                "(conditionally on that owner)",
                details={"owner": item.owner, "acquired_at": float(item.acquired_at)},
                idempotency_key=f"CLAIM_RELEASED_STALE#{instance_id}#{item.owner}#{sweep_execution}"))
        if claim.release(instance_id, item.owner):
            released.append(instance_id)
    return released


SPOT_WARNING_SECONDS = 120  # the interruption comes two minutes after its warning (hibernation: at once)
# A parked instance is put back only this long after its interruption: before then, "running" is the instance
# still serving its last two minutes (or not yet stopping), not an instance EC2 restarted.
PARK_SETTLE_SECONDS = 60


def interrupted_at(item: parked.ParkedInstance) -> float:
    """When EC2 stops (or hibernates) the parked instance: the warning's time plus two minutes; a hibernation has
    no two minutes ("the hibernation process begins immediately",
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html)."""
    return float(item.event_time) + (0 if item.action == "hibernate" else SPOT_WARNING_SECONDS)


def _park_audit(item: parked.ParkedInstance, event: Reason, now: float, sweep_execution: str, reason: str,
                **details: Any) -> None:
    """Once per sweep execution per instance (idempotent: an item tried again leaves one record)."""
    audit.record(audit.AuditEntry(
        group=str(item.parked_for), event=event, at=now, instance_id=item.instance_id, execution_id=sweep_execution,
        remediation_id=str(item.execution), trigger="schedule", reason=reason,
        details={"action": item.action, "event_time": float(item.event_time), "parked_at": float(item.at),
                 "parked_by": item.execution, **details},
        idempotency_key=f"{event}#{item.instance_id}#{sweep_execution}"))


def unpark(item: parked.ParkedInstance, now: float, sweep_execution: str) -> str:
    """One parked instance: ``restored`` (running again: registered back in every target group it left, audited
    SPOT_UNPARKED, its park record and its drain's terminating mark deleted), ``dropped`` (terminated or not
    found: SPOT_PARK_DROPPED, record deleted), or ``waiting`` (not interrupted yet, another termination drain
    owns it now, or not running: nothing sent but DescribeInstanceStatus, nothing audited but SPOT_PARK_OVERDUE
    once after ``parked.OVERDUE_SECONDS``). Never StartInstances: "Only Amazon EC2 can restart an interrupted
    stopped Spot Instance" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html)."""
    instance_id = item.instance_id
    if now < interrupted_at(item) + PARK_SETTLE_SECONDS:
        return "waiting"  # still in its two minutes (or just past them): running says nothing yet
    mark = terminating.find(instance_id)
    if mark is not None and mark.execution != item.execution:
        return "waiting"  # a later termination drain (a new interruption, a scale-in) owns it now
    try:
        state, _, seen = ec2.power(instance_id)
    except AwsCallFailed as exc:
        if code_behind(exc) != "InvalidInstanceID.NotFound":
            raise
        state, seen = "not found", "InvalidInstanceID.NotFound"
    if state == "running":
        deleted: list[str] = []
        arns, gone = put_back.register_all(instance_id, item.registrations(), deleted)
        later = terminating.find(instance_id)
        if later is not None and later.execution != item.execution:
            # A new interruption's drain marked it while we registered (it marks before it deregisters): take
            # back what we registered, so whichever of us went last, it ends out of service; its drain parks it.
            registered = [r for r in item.registrations() if r["arn"] in arns]
            for registration in registered:
                elbv2.deregister(registration["arn"], instance_id, registration.get("port"))
            return "waiting"
        if gone is None:
            _park_audit(item, Reason.SPOT_UNPARKED, now, sweep_execution,
                        f"{instance_id} is running again after its Spot {item.action}: registered back in "
                        f"{len(arns)} target group(s)"
                        + (f"; {len(deleted)} deleted since: skipped" if deleted else ""),
                        target_groups=arns, deleted_target_groups=deleted, parked_seconds=round(now - item.at, 3))
            terminating.release(instance_id, str(item.execution))
            parked.unpark(item)
            return "restored"
        state = seen = gone
    if state in ("not found", *put_back.GONE_STATES):
        _park_audit(item, Reason.SPOT_PARK_DROPPED, now, sweep_execution,
                    f"parked {instance_id} no longer exists ({seen}): nothing to put back, park record dropped",
                    state=state)
        parked.unpark(item)
        return "dropped"
    if now - float(item.at) >= parked.OVERDUE_SECONDS and item.overdue_audited_at is None:
        days = (now - float(item.at)) / 86400
        _park_audit(item, Reason.SPOT_PARK_OVERDUE, now, sweep_execution,
                    f"{instance_id} has been parked for {days:.1f} days and EC2 has not restarted it ({seen}): left "
                    "parked (only EC2 may restart it); said once", state=state)
        logger.warning(f"{instance_id} parked for {days:.1f} days", extra={"instance_id": instance_id})
        parked.mark_overdue_audited(item, now)
    return "waiting"


def restore_parked(sweep_execution: str, budget: Budget) -> dict[str, Any]:
    """Every park record (steps/store/parked.py), each through ``unpark``. A failing item is left for the next
    sweep (everything ``unpark`` does is idempotent); one that throttling or an outage did not cause is audited
    RECONCILE_FAILED in its group, once per sweep. Stops (``Stopped``) when the time budget runs low."""
    now = clock.now()
    outcome: dict[str, Any] = {"restored": [], "dropped": [], "waiting": [], "errors": []}
    for item in parked.all_parked():
        if budget.low():
            raise Stopped("time budget ran low while putting back parked Spot instances")
        try:
            with store_errors.translated():
                result = unpark(item, now, sweep_execution)
        except Exception as exc:
            failure = {"instance_id": item.instance_id, "error": type(exc).__name__, "cause": str(exc)[:300]}
            outcome["errors"].append(failure)
            if not isinstance(exc, TRANSIENT):
                _audit_failed_once(str(item.parked_for), now, sweep_execution,
                                   f"parked {item.instance_id} could not be put back, tried again next sweep: "
                                   f"{type(exc).__name__}: {exc}", failure)
            continue
        outcome[result].append(item.instance_id)
    return outcome


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EXECUTION_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = ReconcileEvent.model_validate(event)
    budget = Budget(context)
    with store_errors.translated():  # the lock-table scan for undeclared groups' work: throttled is retried
        names = groups_to_reconcile()
    results = {name: _reconcile_one(name, parsed.execution_id, budget) for name in names}
    answer: dict[str, Any] = {"groups": results}
    try:
        with store_errors.translated():
            answer["stale_claims_released"] = release_stale_claims(parsed.execution_id, budget)
    except Exception as exc:  # never hides the groups' results; a claim left is taken over once its owner ended
        answer["stale_claims_released"] = []
        answer["stale_claims_error"] = {"error": type(exc).__name__, "cause": str(exc)[:1000]}
        logger.warning("stale instance claims not released", extra=answer["stale_claims_error"])
    try:
        with store_errors.translated():
            parked_now = restore_parked(parsed.execution_id, budget)
        if any(parked_now.values()):  # said only when a park record exists
            answer["parked"] = parked_now
    except Exception as exc:  # never hides the groups' results; every park record stays for the next sweep
        answer["parked"] = {"error": type(exc).__name__, "cause": str(exc)[:1000]}
        logger.warning("parked Spot instances not looked at", extra=answer["parked"])
    raise_if_transient(results)
    logger.info("reconciled", extra={"results": results})
    return answer


def raise_if_transient(results: dict[str, dict[str, Any]]) -> None:
    """Every group has been tried; if one failed only by throttling or an AWS outage, fail the Task with that
    error so the sweep's Retry runs the reconcile again (everything it did is idempotent: what is back in
    service is not registered twice, the cursor is saved). A failure that retrying cannot cure (an instance
    terminated since) was audited by its group and does not fail the Task."""
    transient = {group: r["failed"] for group, r in results.items() if (r.get("failed") or {}).get("transient")}
    if not transient:
        return
    cause = "; ".join(f"{group}: {f['error']}: {f['cause']} (open: {', '.join(f.get('open_remediations') or [])})"
                      for group, f in sorted(transient.items()))
    errors = {f["error"] for f in transient.values()} | {i["error"] for f in transient.values()
                                                         for i in f.get("items") or []}
    error = AwsThrottled if AwsThrottled.__name__ in errors else AwsUnavailable
    raise error(f"reconcile of {', '.join(sorted(transient))} hit AWS errors, tried again by the sweep: {cause}"[:4000])


def groups_to_reconcile() -> list[str]:
    """Every declared group, and every group the lock table shows open work for that the declaration no
    longer names, or all of those when the declaration cannot be read: putting an instance back needs only
    its lifecycle record, never the group's configuration. (The sweep then fails on the declaration itself,
    at "List the configured groups".)"""
    try:
        declared = [g.name for g in groups.load().groups]
    except ConfigurationError as exc:
        logger.warning(f"groups declaration unusable, reconciling from the lock table only: {exc}")
        declared = []
    undeclared = sorted(reconcile_progress.groups_with_work() - set(declared))
    if undeclared:
        logger.warning("reconciling groups the declaration does not name", extra={"groups": undeclared})
    return [*declared, *undeclared]
