"""What the poll loops read, shared by the executions of a group polling at once (docs/design.md, "Polls at fleet
scale"), and what a throttled read means to a poll.

**Shared reads.** A poll that waits for a state (the drain over, healthy again, a replacement in service) reads a
target group's whole DescribeTargetHealth answer through ``target_groups``: an entry another execution stored less
than ``max_age`` ago (half the poll interval, at most 5 s) and taken after the state could begin (``not_before``)
is used as is; a stale one is refreshed by the one poll that wins the refresh claim, and published for the others;
a poll that loses the claim takes the entry it has when no older than twice ``max_age``, else reads AWS itself.
Any failure of the store (a DynamoDB error, an entry that does not decode) falls back to reading AWS: the cache
can cost a poll a read, never its answer.

Never for a decision that takes capacity or mutates: the capacity checks, the re-checks right before
DeregisterTargets / RebootInstances / a rung, the shared-instance rule and the replacement's first look (what was
there before) read AWS themselves (``steps.aws.elbv2``), and so does a poll past its deadline (``fresh``): the
cache may end a wait, never fail one.

**Throttling.** A throttled poll read is "no reading this turn" (``no_reading``): the loop waits and polls again
until its own deadline, which still bounds it; audited ``POLL_THROTTLED`` once per execution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pynamodb.exceptions import PynamoDBException

from steps.aws import elbv2
from steps.core import clock
from steps.core.exceptions import AwsThrottled
from steps.core.observability import logger
from steps.core.reasons import Reason
from steps.domain import poll_reads
from steps.store import poll_throttles, read_cache

if TYPE_CHECKING:
    from steps.core.entrypoint import StepContext

T = TypeVar("T")
Registrations = list[elbv2.Registration]


def _stored(call: Callable[..., T], *args: Any) -> T | None:
    """A call of the store, or None when it failed: the poll goes on without the cache."""
    try:
        return call(*args)
    except PynamoDBException as exc:
        logger.warning(f"poll read cache: {call.__name__} failed, reading AWS instead: {exc}")
        return None


def _document(registrations: Registrations) -> list[list[Any]]:
    return [[r.target_id, r.port, r.state, r.reason] for r in registrations]


def _registrations(document: Any) -> Registrations | None:
    """The stored document as registrations; None when it is not one (the poll reads AWS)."""
    if not isinstance(document, list):
        return None
    found = []
    for row in document:
        if not (isinstance(row, list) and len(row) == 4 and isinstance(row[0], str) and isinstance(row[2], str)
                and (row[1] is None or (isinstance(row[1], int) and not isinstance(row[1], bool)))
                and (row[3] is None or isinstance(row[3], str))):
            return None
        found.append(elbv2.Registration(row[0], row[1], row[2], row[3]))
    return found


def _cached(entry: read_cache.Entry | None, accept: Callable[[float, float], bool]) -> Registrations | None:
    if entry is None or not accept(entry.fetched_at, clock.now()):
        return None
    return _registrations(entry.document)


def target_group(arn: str, freshness: poll_reads.Freshness, owner: str, fresh: bool = False) -> Registrations:
    """Every registration in one target group, for a poll (module docstring). Raises ``AwsThrottled`` when the
    read it had to make was throttled (the caller: ``no_reading``)."""
    item_key = read_cache.key(read_cache.TARGET_HEALTH, arn)
    if not fresh:
        entry = _stored(read_cache.load, item_key)
        if (hit := _cached(entry, freshness.fresh)) is not None:
            return hit
        claimed = _stored(read_cache.claim, item_key, owner, clock.now(), freshness.max_age, poll_reads.CLAIM_SECONDS)
        if claimed is False:  # another poll refreshes it, or just did
            if (held := _cached(entry, freshness.acceptable)) is not None:
                return held
            latest = _stored(read_cache.load, item_key, True)
            if (held := _cached(latest, freshness.acceptable)) is not None:
                return held
    fetched_at = clock.now()
    registrations = elbv2.describe_all(arn)
    if not _stored(read_cache.publish, item_key, _document(registrations), fetched_at, clock.now()):
        logger.debug(f"poll read cache: the reading of {arn} was not stored (a newer one is, or it is too large)")
    return registrations


def target_groups(arns: Iterable[str], *, poll_seconds: float, not_before: float, owner: str,
                  fresh: bool = False) -> dict[str, Registrations]:
    """target group ARN -> its registrations (``target_group`` for each)."""
    freshness = poll_reads.for_poll(poll_seconds, not_before)
    return {arn: target_group(arn, freshness, owner, fresh) for arn in arns}


def no_reading(ctx: StepContext, what: str, exc: AwsThrottled) -> None:
    """A poll's read was throttled: no reading this turn. Audited ``POLL_THROTTLED`` the first time in this
    execution (a note in the lock table); a failure to note it only skips the audit this turn."""
    logger.warning(f"{ctx.step}: {what} throttled, no reading this turn: {exc}")
    try:
        first = poll_throttles.first(ctx.execution_id, ctx.now)
    except PynamoDBException as note_failed:
        logger.warning(f"could not note the throttled poll, not audited this turn: {note_failed}")
        return
    if not first:
        return
    try:
        ctx.audit(Reason.POLL_THROTTLED,
                  f"{ctx.step}: AWS throttled {what}: no reading this turn; the loop waits and polls again until "
                  "its deadline (audited once per execution)", step=ctx.step, call=what, error=str(exc))
    except Exception:
        _stored(poll_throttles.forget, ctx.execution_id)
        raise
