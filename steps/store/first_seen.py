"""When the select step first and last saw each of a group's instances fail its load balancer health checks,
kept in the lock table under ``unhealthy#<group>`` (JSON: instance id -> {"first": epoch s, "last": epoch s}).

DescribeTargetHealth says a target is ``unhealthy`` now, never since when, so the ``unhealthy_target`` criterion
needs this memory to wait its ``for_seconds``: an instance counts as failing from the first selection that saw it
failing, as long as every later selection saw it failing soon enough after the one before that it cannot have
recovered and failed again in between (steps/domain/criteria.py ``first_seen``), and is forgotten by the first
selection that sees it no longer failing. Written by every selection that sees an instance failing (its last
sighting moves) or forgets one, by the step holding the group's lock (one writer at a time); a lost write only
makes the wait start again later, never earlier.

The earlier format, instance id -> first sighting (a number), still loads: as a first and last sighting both at
that number, so its carry is judged from the first sighting (at worst the wait starts again). A value of any
other shape, a time that is not a finite number, a last sighting before the first, and a document that is not a
JSON object are dropped (the wait starts again: never sooner)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

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
    seen = UnicodeAttribute(default="{}")  # JSON: instance id -> {"first": epoch s, "last": epoch s}
    updated_at = NumberAttribute(default=0)


def _sighting(value: Any) -> tuple[float, float] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):  # the earlier format: the first sighting only
        return (float(value), float(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        first, last = value.get("first"), value.get("last")
        if isinstance(first, int | float) and isinstance(last, int | float) \
                and not isinstance(first, bool) and not isinstance(last, bool) \
                and math.isfinite(first) and math.isfinite(last) and first <= last:
            return float(first), float(last)
    return None


def load(group: str) -> dict[str, tuple[float, float]]:
    """instance id -> (first seen failing, last seen failing); empty when nothing is remembered."""
    try:
        item = FirstSeen.get(f"{PREFIX}{group}", consistent_read=True)
    except FirstSeen.DoesNotExist:
        return {}
    try:
        document = json.loads(item.seen or "{}")
    except ValueError:  # not JSON: nothing usable is remembered
        return {}
    if not isinstance(document, dict):
        return {}
    found: dict[str, tuple[float, float]] = {}
    for instance_id, value in document.items():
        sighting = _sighting(value)
        if sighting is not None:
            found[str(instance_id)] = sighting
    return found


def save(group: str, seen: Mapping[str, tuple[float, float]], now: float) -> None:
    body = {i: {"first": first, "last": last} for i, (first, last) in sorted(seen.items())}
    FirstSeen(f"{PREFIX}{group}", seen=json.dumps(body), updated_at=now).save()
