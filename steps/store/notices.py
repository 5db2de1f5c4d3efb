"""Once-a-day notices (e.g. "this group reports no metric data"), claimed in the lock table under
``notice#<kind>#<group>#<UTC day>`` with a conditional put, so two selections racing on the same day send
one message between them. The item claims the day before the message is sent; a send that fails gives the
claim back (``release_daily``), so the next selection that day tries again."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, delete_if, expiry, save_if

PREFIX = "notice#"
KEEP_SECONDS = 3 * 86400  # DynamoDB TTL housekeeping; the day in the key is what dedupes


class DailyNotice(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "notice#<kind>#<group>#<YYYY-MM-DD>"
    sent_at = NumberAttribute()
    execution_id = UnicodeAttribute()
    purge_at = TTLAttribute()  # DynamoDB TTL attribute


def key(kind: str, group: str, now: float) -> str:
    return f"{PREFIX}{kind}#{group}#{datetime.fromtimestamp(now, UTC).strftime('%Y-%m-%d')}"


def claim_daily(kind: str, group: str, now: float, execution_id: str) -> bool:
    """True for the first claim of ``kind`` for ``group`` this UTC day; False for every later one."""
    item = DailyNotice(key(kind, group, now), sent_at=now, execution_id=execution_id,
                       purge_at=expiry(now + KEEP_SECONDS))
    return save_if(item, DailyNotice.group.does_not_exist())


def release_daily(kind: str, group: str, now: float, execution_id: str) -> None:
    """Give back this execution's claim (the message could not be sent); another execution's claim stays."""
    delete_if(DailyNotice(key(kind, group, now)), DailyNotice.execution_id == execution_id)
