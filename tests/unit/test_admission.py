"""The check-capacity verdict (steps/domain/admission.py), stated by hand."""

from __future__ import annotations

import pytest

from steps.core.reasons import Reason
from steps.domain import admission
from steps.domain.blockers.base import Block
from steps.domain.capacity import CapacityDecision

FLOOR_OK = CapacityDecision(True, (), "3 of 4 healthy after removal, minimum 2")
FLOOR_NO = CapacityDecision(False, (), "1 of 2 healthy after removal, minimum 2")
PAUSED = Block(Reason.SKIPPED_PAUSED, "group paused by alice")
WINDOW = Block(Reason.SKIPPED_WINDOW, "outside the maintenance windows")


@pytest.mark.parametrize(("floor", "found", "reboots", "limit", "ladder", "allowed", "code", "reason", "plan"), [
    (FLOOR_OK, [], 0, 3, True, True, "CAPACITY_OK", "3 of 4 healthy after removal, minimum 2", "reboot"),
    (FLOOR_NO, [], 0, 3, True, False, "SKIPPED_CAPACITY", "1 of 2 healthy after removal, minimum 2", "reboot"),
    # the first blocker names the verdict; every reason is said, the floor's last
    (FLOOR_OK, [PAUSED, WINDOW], 0, 3, True, False, "SKIPPED_PAUSED",
     "group paused by alice; outside the maintenance windows; 3 of 4 healthy after removal, minimum 2", "reboot"),
    (FLOOR_NO, [WINDOW], 0, 3, True, False, "SKIPPED_WINDOW",
     "outside the maintenance windows; 1 of 2 healthy after removal, minimum 2", "reboot"),
    # the reboot limit: reached (not only passed) escalates, when there is a ladder
    (FLOOR_OK, [], 2, 3, True, True, "CAPACITY_OK", "3 of 4 healthy after removal, minimum 2", "reboot"),
    (FLOOR_OK, [], 3, 3, True, True, "CAPACITY_OK", "3 of 4 healthy after removal, minimum 2", "escalate"),
    (FLOOR_OK, [], 7, 3, True, True, "CAPACITY_OK", "3 of 4 healthy after removal, minimum 2", "escalate"),
    (FLOOR_OK, [], 7, 3, False, True, "CAPACITY_OK", "3 of 4 healthy after removal, minimum 2", "reboot"),
])
def test_verdict_by_hand(floor: CapacityDecision, found: list[Block], reboots: int, limit: int, ladder: bool,
                         allowed: bool, code: str, reason: str, plan: str) -> None:
    verdict = admission.decide(floor, found, reboots, limit, ladder)
    assert (verdict.allowed, verdict.code, verdict.reason, verdict.plan) == (allowed, code, reason, plan)
    assert (verdict.reboots_today, verdict.max_reboots_per_day) == (reboots, limit)


@pytest.mark.parametrize(("floor", "found", "reboots", "expected"), [
    (FLOOR_OK, [], 0, "would deregister, drain, reboot and re-register"),
    (FLOOR_OK, [], 3, "would deregister, drain and escalate (3 reboots in 24 h, limit 3)"),
    (FLOOR_NO, [], 0, "would skip (SKIPPED_CAPACITY)"),
    (FLOOR_OK, [WINDOW], 3, "would skip (SKIPPED_WINDOW)"),
])
def test_dry_run_sentence_by_hand(floor: CapacityDecision, found: list[Block], reboots: int, expected: str) -> None:
    assert admission.decide(floor, found, reboots, 3, True).dry_run_sentence() == expected
