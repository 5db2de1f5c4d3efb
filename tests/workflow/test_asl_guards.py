"""Rules of the ASL that no other workflow test states: the restore path's own Catch and Retry, the lock
release's ownership condition, the sweep surviving a failed group. Each kills a mutant of
nightshift/mutate_asl.py (docs/mutation.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from steps.core.exceptions import AwsThrottled
from steps.store import lock
from tests.faults.matrix import THROTTLING

OTHER = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:someone-else"


class InjectedBug(Exception):
    """Retrying cannot help."""


class RuntimeCrash(Exception):
    error_type = "Lambda.Unknown"  # what Lambda reports when the runtime dies


def fail_reboot(h: Any) -> None:
    h.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "not allowed to reboot")


def test_a_restore_that_keeps_failing_still_releases_the_lock_and_fails(harness: Any) -> None:
    # GIVEN the reboot fails (so the restore path runs) and the restore step fails on every attempt
    h = harness()
    fail_reboot(h)
    attempts: list[int] = []

    def broken_restore(name: str, *_: Any) -> None:
        if name == "nightshift-restore-service":
            attempts.append(1)
            raise InjectedBug("restore is broken")

    h.rt.router.before.append(broken_restore)
    result = h.run()
    # THEN the execution fails loudly, after retrying the restore, and the lock is released all the same
    assert result["status"] == "FAILED"
    assert result["error"] == "RemediationFailed"
    assert "restore is broken" in result.get("cause", "")
    assert len(attempts) > 1
    assert not h.lock_held()


def test_a_restore_that_crashes_once_is_retried(harness: Any) -> None:
    # GIVEN the reboot fails and the restore step's runtime dies once (Lambda.Unknown)
    h = harness()
    fail_reboot(h)
    calls: list[int] = []

    def crash_once(name: str, *_: Any) -> None:
        if name == "nightshift-restore-service":
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeCrash("restore crashed")

    h.rt.router.before.append(crash_once)
    result = h.run()
    # THEN the retry puts the instance back, and the failure is the reboot's, not the restore's
    assert result["status"] == "FAILED" and result["error"] == "RemediationFailed"
    assert "UnauthorizedOperation" in result.get("cause", "")
    assert len(calls) == 2
    assert h.in_service_everywhere(h.leaker)
    assert h.audit_events()[-2:] == ["RESTORED", "FAILED"]
    assert not h.lock_held()


def test_the_release_deletes_only_our_own_lock(harness: Any) -> None:
    # GIVEN another execution holds the group's lock by the time this one is about to release it
    h = harness()

    def taken_over(name: str, _event: Any, result: Any) -> None:
        if name == "nightshift-check-health" and isinstance(result, dict) and result.get("done"):
            now = h.rt.clock.now()
            lock.GroupLock(group="web", owner=OTHER, acquired_at=now, expires_at=now + 7200,
                           purge_at=datetime.fromtimestamp(int(now + 7200 + 86400), UTC)).save()

    h.rt.router.after.append(taken_over)
    result = h.run()
    # THEN the release leaves the other owner's lock alone, and "not ours" is not a failure
    assert result["status"] == "SUCCEEDED", result.get("cause")
    holder = lock.holder("web")
    assert holder is not None and holder.owner == OTHER


def test_a_throttled_restore_is_retried(harness: Any) -> None:
    # GIVEN the reboot fails and the restore step is throttled twice
    h = harness()
    fail_reboot(h)
    calls: list[int] = []

    def throttled(name: str, *_: Any) -> None:
        if name == "nightshift-restore-service":
            calls.append(1)
            if len(calls) <= 2:
                raise AwsThrottled("restore throttled")

    h.rt.router.before.append(throttled)
    result = h.run()
    assert result["status"] == "FAILED" and "UnauthorizedOperation" in result.get("cause", "")
    assert len(calls) == 3 and h.in_service_everywhere(h.leaker) and not h.lock_held()


def test_a_failing_group_does_not_fail_the_sweep(harness: Any) -> None:
    # GIVEN the group's remediation will fail (its reboot is refused)
    h = harness()
    fail_reboot(h)
    result = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=180)
    # THEN the sweep itself succeeds and reports the group as failed
    assert result["status"] == "SUCCEEDED", result.get("cause")
    summary = json.loads(result["output"])["summary"]
    assert summary["groups"]["web"]["verdict"] == "failed"
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()


# One throttled call, or a runtime that dies right after its call took effect, is the Task's Retry's to absorb:
# the same execution succeeds, nothing is replayed. (The fault matrix's cases of these faults also pass when the
# Retry is gone, because its Catch puts the instance back and the operator's replay then heals it: only the
# execution's own outcome tells a retried fault from a failed-and-replayed one.)
@pytest.mark.parametrize(("function", "service", "operation", "kind"), [
    ("nightshift-reboot-instance", "ec2", "RebootInstances", "throttling"),
    ("nightshift-deregister-instance", "elastic-load-balancing-v2", "DeregisterTargets", "throttling"),
    ("nightshift-register-instance", "elastic-load-balancing-v2", "RegisterTargets", "crash-after"),
    ("nightshift-acquire-group-lock", "dynamodb", "PutItem", "crash-after"),
])
def test_one_throttled_or_crashed_call_is_retried_by_the_same_execution(
        harness: Any, function: str, service: str, operation: str, kind: str) -> None:
    h = harness()
    if kind == "throttling":
        code, status = THROTTLING[service]
        fault = h.rt.inject(service, operation, code, "Rate exceeded (injected)", status, 1, function)
    else:
        fault = h.rt.inject_after(service, operation, 1, function, crash="Lambda.Unknown")
    result = h.run()
    assert fault.fired
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()
    reboots = [c for c in h.rt.api_calls() if c.operation == "RebootInstances" and c.accepted]
    assert len(reboots) == 1


def test_the_poll_loops_wait_what_the_check_asks_not_less(harness: Any) -> None:
    """The drain and boot Waits last the ``wait_seconds`` their check returns, never less than the group's
    ``poll_seconds`` (10 s for both here): so a loop runs at most one check per poll interval of the time it
    took, plus the first and the last. A Wait that fired every second (the ASL mutant wait-shortened/*) would
    end the drain and the boot at the same points, decided by the checks, but with a check per second: about
    three state transitions a second, which the execution-history budget (steps/domain/history.py) does not
    allow for over a long deregistration delay."""
    h = harness(drain={"signal": "target_state", "poll_seconds": 10}, boot={"poll_seconds": 10})
    assert h.run()["status"] == "SUCCEEDED"
    details = {r["event"]: r.get("details") or {} for r in h.audit_records()}
    drain_seconds, boot_seconds = float(details["DRAINED"]["drain_seconds"]), float(details["REBOOTED"]["boot_seconds"])
    checks = [i.function for i in h.rt.router.invocations]
    assert drain_seconds >= 300 and boot_seconds >= 60  # the loops had something to wait for
    assert checks.count("nightshift-check-drain") <= drain_seconds // 10 + 2
    assert checks.count("nightshift-check-boot") <= boot_seconds // 10 + 2
