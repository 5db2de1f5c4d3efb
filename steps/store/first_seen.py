"""When the select step first saw each of a group's instances fail its load balancer health checks, kept in the
lock table under ``unhealthy#<group>`` (instance id -> epoch seconds, as JSON).

DescribeTargetHealth says a target is ``unhealthy`` now, never since when, so the ``unhealthy_target`` criterion
needs this memory to wait its ``for_seconds``: an instance counts as failing from the first selection that saw it
failing, and is forgotten by the first selection that sees it no longer failing. Written only when that set
changes, by the step holding the group's lock (one writer at a time); a lost write only makes the wait start
again later, never earlier."""

from __future__ import annotations

import json

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION

PREFIX = "unhealthy#"


class FirstSeen(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "unhealthy#<group>"
    seen = UnicodeAttribute(default="{}")  # JSON: instance id -> first seen failing (epoch seconds)
    updated_at = NumberAttribute(default=0)


def load(group: str) -> dict[str, float]:
    """instance id -> when first seen failing; empty when nothing is remembered."""
    try:
        item = FirstSeen.get(f"{PREFIX}{group}", consistent_read=True)
    except FirstSeen.DoesNotExist:
        return {}
    return {str(k): float(v) for k, v in json.loads(item.seen or "{}").items()}


def save(group: str, seen: dict[str, float], now: float) -> None:
    FirstSeen(f"{PREFIX}{group}", seen=json.dumps(dict(sorted(seen.items()))), updated_at=now).save()
