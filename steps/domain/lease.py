"""How long the group lease must last, and how far each renewal extends it. Pure.

The group lock is a lease (steps/store/lock.py): once it expires another execution may take the group, so
the lease must never expire while its owner still has an instance out of service. It is renewed by:
acquisition (``lock_lease_seconds``), every check of a poll loop (drain, boot, health: at the end of the
check, once its next Wait is known; stop/start and replace: at the start, before any AWS call), and the
escalation step (steps/remediate/choose_escalation.py). Between two renewals an execution runs Tasks and at most one
Wait. A Task with all its Retry attempts can take long (Step Functions times each attempt out at the Task's
``TimeoutSeconds``); these worst cases are read off ``statemachine/remediate.asl.json``
(tests/unit/test_lease_bound.py re-derives each from the ASL):

- a step with the standard retriers: 1 + 6 + 2 attempts of 60 s, back-off 2+4+8+16+32+60 and 3+6 s: 671 s;
- "Announce the start" (notify): 1 + 3 attempts, back-off 2+4+8 s: 254 s;
- "Put the instance back in service" (restore): 1 + 8 attempts, back-off 2+4+8+16+32+60+60+60 s: 782 s;
- "Start the next remediation of the group" (the cascade, max_in_flight above 1): 1 + 4 attempts of 60 s, back-off
  2+4+8+16 s: 330 s.

Two kinds of interval:
- From acquisition to the first renewal (the end of the first drain check): Select, Check capacity, the
  cascade's start, Deregister, Announce the start, then a first drain check that fails into the restore path:
  3 x 671 + 330 + 254 + 671 + 782 = 4050 s. Only ``lock_lease_seconds`` covers it.
- After a loop renewal: its Wait, then at most two steps (the next check failing; or the step after the
  loop, e.g. Reboot, and the next loop's first check failing) and the restore path: wait + 2 x 671 + 782.
  A renewal therefore extends the lease to ``max(lock_lease_seconds, wait + 2124 + margin)``: the lease
  covers its own Wait, however long (a drain waits out a deregistration delay of up to 3600 s in one Wait).

- After a watching selection's renewal (steps/remediate/select_worst_instance.py: an ``unhealthy_target``
  sighting not due yet): its Wait, then the next selection and everything up to the first drain check, as from
  acquisition: wait + 4050 s. That renewal extends the lease to ``max(lock_lease_seconds, wait + 4050 +
  margin)`` (``watch_renewal_seconds``); the Wait is under half of UnhealthyThresholdCount x interval (at most
  10 x 300 s), so under 1500 s.

Validation (``GroupConfig``) refuses a ``lock_lease_seconds`` below the longest of these intervals with the
group's longest possible Wait, plus a margin: then the configured lease alone covers every interval, and
the renewals' own extension is a second line of defence. With the defaults that is 3600 + 2124 + 300 =
6024 s, within the default 7200 s.
"""

from __future__ import annotations

from dataclasses import dataclass

from steps.domain.group_settings import GroupSettings
from steps.domain.history import (
    MAX_DEREGISTRATION_DELAY_SECONDS,
    REPLACE_POLL_SECONDS,
    STANDBY_POLL_SECONDS,
    STOP_START_POLL_SECONDS,
)

STEP_WORST_SECONDS = 671
NOTIFY_WORST_SECONDS = 254
RESTORE_WORST_SECONDS = 782
CASCADE_START_WORST_SECONDS = 330
MARGIN_SECONDS = 300

FIRST_RENEWAL_SECONDS = (3 * STEP_WORST_SECONDS + CASCADE_START_WORST_SECONDS + NOTIFY_WORST_SECONDS
                         + STEP_WORST_SECONDS + RESTORE_WORST_SECONDS)
AFTER_RENEWAL_SECONDS = 2 * STEP_WORST_SECONDS + RESTORE_WORST_SECONDS


@dataclass(frozen=True)
class LeaseNeed:
    seconds: int  # the least lock_lease_seconds that covers every interval between renewals, with the margin
    interval: str  # the longest interval, in words
    fix: str  # what to change instead of the lease, when there is something


def renewal_seconds(lock_lease_seconds: int, wait_seconds: float) -> float:
    """How far a poll loop's renewal extends the lease: past its next Wait and what may follow it."""
    return float(max(lock_lease_seconds, wait_seconds + AFTER_RENEWAL_SECONDS + MARGIN_SECONDS))


def watch_renewal_seconds(lock_lease_seconds: int, wait_seconds: float) -> float:
    """How far a watching selection's renewal extends the lease: past its Wait and a whole selection after it."""
    return float(max(lock_lease_seconds, wait_seconds + FIRST_RENEWAL_SECONDS + MARGIN_SECONDS))


def longest_waits(group: GroupSettings) -> list[tuple[str, int, str]]:
    """(loop, the longest single Wait it can take, the setting that bounds it) for every poll loop."""
    drain = group.drain
    # signal target_state (and ssm with no port recorded) waits for the rest of the deregistration delay
    # (a target group attribute, 0-3600 s) in one Wait; ssm polls, or waits for its floor.
    waits = [("drain", max(MAX_DEREGISTRATION_DELAY_SECONDS, drain.poll_seconds, drain.floor_seconds),
              "the deregistration delay (up to 3600 s, a target group attribute) bounds it"),
             ("boot", max(group.boot.poll_seconds, group.boot.min_wait_seconds),
              "lower boot.min_wait_seconds or boot.poll_seconds"),
             ("health", max(group.health.poll_seconds, STANDBY_POLL_SECONDS if group.auto_scaling.enabled else 0),
              "lower health.poll_seconds")]
    actions = {r.action for r in group.escalation.rungs}
    if "stop_start" in actions:
        waits.append(("stop_start", STOP_START_POLL_SECONDS, "fixed"))
    if "replace" in actions:
        waits.append(("replace", REPLACE_POLL_SECONDS, "fixed"))
    return waits


def required_lease(group: GroupSettings) -> LeaseNeed:
    """The least ``lock_lease_seconds`` for ``group`` (see the module doc)."""
    loop, wait, fix = max(longest_waits(group), key=lambda item: item[1])
    after_wait = wait + AFTER_RENEWAL_SECONDS
    if after_wait <= FIRST_RENEWAL_SECONDS:
        return LeaseNeed(FIRST_RENEWAL_SECONDS + MARGIN_SECONDS,
                         f"acquisition to the first drain check, with every Retry and the restore path: "
                         f"{FIRST_RENEWAL_SECONDS} s", "")
    return LeaseNeed(after_wait + MARGIN_SECONDS,
                     f"a {loop} check's renewal to the next: a Wait of up to {wait} s, then two steps and the "
                     f"restore path with every Retry ({AFTER_RENEWAL_SECONDS} s)", fix)
