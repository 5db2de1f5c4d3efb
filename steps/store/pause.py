"""The group pause flag (storm breaker, or `nightshift pause`), kept in the lock table under
``pause#<group>`` so it lives and dies with the group's other control data."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION

PREFIX = "pause#"


class GroupPause(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "pause#<group>"
    reason = UnicodeAttribute()
    paused_at = NumberAttribute()
    paused_by = UnicodeAttribute(default="")


def pause(group: str, reason: str, at: float, by: str) -> None:
    GroupPause(f"{PREFIX}{group}", reason=reason, paused_at=at, paused_by=by).save()


def resume(group: str) -> bool:
    try:
        GroupPause.get(f"{PREFIX}{group}").delete()
    except GroupPause.DoesNotExist:
        return False
    return True


def paused(group: str) -> GroupPause | None:
    try:
        return GroupPause.get(f"{PREFIX}{group}", consistent_read=True)
    except GroupPause.DoesNotExist:
        return None
