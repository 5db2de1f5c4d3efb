"""Readings the poll loops of a group share, in the lock table (docs/design.md, "Polls at fleet scale").

One item per reading, ``cache#<kind>#<name>`` (``cache#tgh#<target group ARN>``: the whole DescribeTargetHealth
answer of one target group), holding the reading (JSON, zlib-compressed), ``fetched_at`` (the step clock just
before the call was sent: a lower bound of when AWS answered) and a refresh claim (``claimed_by``,
``claimed_at``), so only one poll at a time reads AWS for a stale entry.

Every write is conditional: a claim only on an entry that is stale and not claimed by a live refresher; a
reading only over an older one (``fetched_at`` less than ours), so a slow refresher never overwrites a newer
reading. A reading too large for an item is not stored (the polls read AWS themselves): DynamoDB's item limit is
400 KB, attribute names and values together ("The maximum item size in DynamoDB is 400 KB, which includes both
attribute name binary length (UTF-8 length) and attribute value lengths",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items; a Binary value
counts its raw bytes, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).

Failures here are never the poll's: steps/remediate/polls.py reads AWS itself when any call of this module fails.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import BinaryAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, expiry

PREFIX = "cache#"
TARGET_HEALTH = "tgh"
# The compressed reading's ceiling: the 400 KB item limit less room for the key (a target group ARN is at most a
# few hundred bytes) and the other attributes. Measured (tests/unit/test_read_cache.py): 1,000 instance targets
# (AWS's default "Targets per Target Group per Region") take about 12 KB, 20,000 still under 300 KB.
MAX_BODY_BYTES = 300 * 1024
KEEP_SECONDS = 86400  # DynamoDB TTL housekeeping only: every reader judges an entry by its own fetched_at


class CachedRead(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "cache#<kind>#<name>"
    fetched_at = NumberAttribute(null=True)
    body = BinaryAttribute(legacy_encoding=False, null=True)  # zlib(JSON)
    claimed_by = UnicodeAttribute(null=True)
    claimed_at = NumberAttribute(null=True)
    purge_at = TTLAttribute(null=True)  # DynamoDB TTL attribute


@dataclass(frozen=True)
class Entry:
    fetched_at: float
    document: Any


def key(kind: str, name: str) -> str:
    return f"{PREFIX}{kind}#{name}"


def encode(document: Any) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)


def decode(body: bytes) -> Any:
    return json.loads(zlib.decompress(body))


def load(item_key: str, consistent: bool = False) -> Entry | None:
    """The stored reading, or None (none yet, or one that does not decode). Eventually consistent by default: an
    entry is judged by its own ``fetched_at``, so an older version read is only an older reading."""
    try:
        item = CachedRead.get(item_key, consistent_read=consistent)
    except CachedRead.DoesNotExist:
        return None
    if item.fetched_at is None or item.body is None:
        return None
    try:
        return Entry(float(item.fetched_at), decode(item.body))
    except (ValueError, zlib.error):
        return None


def claim(item_key: str, owner: str, now: float, max_age: float, claim_seconds: float) -> bool:
    """Claim the refresh of a stale entry (one UpdateItem): only while no reading is younger than ``max_age`` and
    no claim younger than ``claim_seconds`` stands. False: another poll refreshes it, or just did."""
    stale = CachedRead.fetched_at.does_not_exist() | (CachedRead.fetched_at < now - max_age)
    unclaimed = CachedRead.claimed_at.does_not_exist() | (CachedRead.claimed_at < now - claim_seconds)
    try:
        CachedRead(item_key).update(actions=[CachedRead.claimed_by.set(owner), CachedRead.claimed_at.set(now),
                                             CachedRead.purge_at.set(expiry(now + KEEP_SECONDS))],
                                    condition=stale & unclaimed)
    except UpdateError as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True


def publish(item_key: str, document: Any, fetched_at: float, now: float) -> bool:
    """Store a reading taken at ``fetched_at`` and end the refresh claim, unless a newer reading is stored already.
    False: a newer one is there, or this one is too large for an item (then nothing is written)."""
    body = encode(document)
    if len(body) > MAX_BODY_BYTES:
        return False
    older = CachedRead.fetched_at.does_not_exist() | (CachedRead.fetched_at < fetched_at)
    try:
        CachedRead(item_key).update(actions=[CachedRead.fetched_at.set(fetched_at), CachedRead.body.set(body),
                                             CachedRead.claimed_by.remove(), CachedRead.claimed_at.remove(),
                                             CachedRead.purge_at.set(expiry(now + KEEP_SECONDS))],
                                    condition=older)
    except UpdateError as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True
