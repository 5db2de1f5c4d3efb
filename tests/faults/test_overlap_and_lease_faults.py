"""The fault matrix's two concurrency families (issue 14): overlapping groups, and a group lease lost mid-run.

Overlap: two groups reach the same instances (group "web" declares the fleet's HTTPS target group, "api" its
HTTP one, every instance is behind both: validation cannot see the overlap), and their remediations start
together, as the sweep starts groups. Such a shared instance is passed over by both groups (SKIPPED_SHARED,
tests/workflow/test_shared_instances.py); this family tests the instance claim, the second line behind that
guard, so it switches the guard off. An AWS fault (throttling, a 5xx for as long as retried, the answer lost
after the call took effect, the runtime dying right after the call) is injected into one of the two
executions (the first that makes the call): into select-worst-instance's DynamoDB calls (the instance claim:
its conditional PutItem, its GetItem of the holder), or the winner's DeregisterTargets or RebootInstances.
Then the operator's `replay --failed` runs. Invariants: at most one accepted RebootInstances per instance,
counted at the API; never two instances out of service at once, never below the floor; no group lock and no
instance claim left; every instance in service.

Expired lease: for every polling Task (the Tasks whose step renews the lease: steps/remediate/lease.py ``keep``; found
in the steps' source, not listed here), another owner takes the group's lock right before the Task runs, as
it could once the lease ran out. Invariants: LOCK_LOST audited naming the new holder, the execution failed
with LockLost, the instance back in service, the other owner's lock untouched, at most one reboot, no claim
left.

`make test` runs one case per family (SMOKE); NIGHTSHIFT_FAULT_MATRIX=full runs them all.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nightshift.functions import BY_NAME
from steps.store import claim, lock
from tests.faults import matrix
from tests.harness import Harness

FULL = os.environ.get("NIGHTSHIFT_FAULT_MATRIX") == "full"
GROUPS = ("web", "api")
OVERLAP_KINDS = ("throttling", "server-error", "lost-answer", "crash-after")
# The calls faulted in one of the two executions: the claim's DynamoDB calls, and the winner's removal and reboot.
OVERLAP_CALLS = (("select-worst-instance", "dynamodb"), ("deregister-instance", "elastic-load-balancing-v2"),
                 ("reboot-instance", "ec2"))
OVERLAP_OPERATIONS = {"dynamodb": ("PutItem", "GetItem"), "elastic-load-balancing-v2": ("DeregisterTargets",),
                      "ec2": ("RebootInstances",)}


def overlap_cases() -> list[matrix.Case]:
    """From the recorded catalogue (the reboot scenario): each faulted call the Task really makes x each kind
    that applies to it (matrix.kinds_for: no lost answer or crash after a read)."""
    recorded = matrix.load_catalogue()["reboot"]
    out = []
    for task, service in OVERLAP_CALLS:
        for svc, operation in recorded[task]:
            if svc == service and operation in OVERLAP_OPERATIONS[service]:
                out += [matrix.Case("overlap", task, svc, operation, kind)
                        for kind in matrix.kinds_for(svc, operation) if kind in OVERLAP_KINDS]
    return out


def polling_tasks() -> list[str]:
    """Every Lambda Task whose step renews the group lease (calls ``lease.keep``), from the steps' source."""
    root = Path(__file__).resolve().parents[2]
    return sorted(task for task in matrix.lambda_tasks()
                  if "lease.keep(" in (root / BY_NAME[f"nightshift-{task}"].source()).read_text())


def scenario_running(task: str) -> str:
    """The first recorded scenario that runs ``task``."""
    return next(name for name, tasks in matrix.load_catalogue().items() if task in tasks)


ALL_OVERLAP = overlap_cases()
SMOKE_OVERLAP = [c for c in ALL_OVERLAP if c.id == "reboot-instance:ec2.RebootInstances:lost-answer"]
ALL_LEASE = polling_tasks()
SMOKE_LEASE = ["check-drain"]


def test_the_families_cover_what_they_say() -> None:
    assert {c.task for c in ALL_OVERLAP} == {t for t, _ in OVERLAP_CALLS}
    assert {(c.operation, c.kind) for c in ALL_OVERLAP} >= {("PutItem", "lost-answer"), ("GetItem", "throttling")}
    # the six poll loops: drain, boot, health, stop/start, replace, and the selection's watch of a failing target
    # (a lock lost in the middle of a watch: tests/workflow/test_selection_criteria.py)
    poll_loops = ["check-boot", "check-drain", "check-health", "replace-instance", "select-worst-instance",
                  "stop-start-instance"]
    assert polling_tasks() == poll_loops, ALL_LEASE
    assert SMOKE_OVERLAP and set(SMOKE_LEASE) <= set(ALL_LEASE)


# -- overlapping groups ---------------------------------------------------------------------------------------

@pytest.fixture
def shared_guard_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from steps.remediate import blockers

    monkeypatch.setattr(blockers, "serves_another_group", lambda *_: None)


def declare_two_groups_over_one_fleet(h: Harness) -> None:
    https, http = h.built.target_group_arns
    h.rt.declare_groups([{**h.group, "name": "web", "target_group_arns": [https]},
                         {**h.group, "name": "api", "target_group_arns": [http]}])


def start_together(h: Harness, groups: tuple[str, ...], prefix: str = "overlap") -> list[dict[str, Any]]:
    arns: list[str] = []
    barrier = threading.Barrier(len(groups))

    def start(group: str) -> None:
        barrier.wait()
        arns.append(h.rt.start({"group": group, "reason": "overlap"}, name=f"{prefix}-{group}"))

    threads = [threading.Thread(target=start, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [h.rt.wait(arn, timeout=300) for arn in arns]


def in_one_execution(h: Harness, fault: Any) -> Any:
    """Narrow ``fault`` to one execution: the first whose Task makes the faulted call."""
    current = threading.local()
    chosen: list[str] = []

    def note(_: str, event: dict[str, Any]) -> None:
        current.execution = event.get("execution_id")

    h.rt.router.before.append(note)
    plain = fault.matches

    def matches(service: str, operation: str, function: str | None) -> bool:
        if not plain(service, operation, function):
            return False
        mine = getattr(current, "execution", None)
        if not chosen:
            chosen.append(mine)
        return mine == chosen[0]

    fault.matches = matches
    return fault


def overlap_problems(h: Harness) -> list[str]:
    calls = h.rt.api_calls()
    problems: list[str] = []
    for service, operation in matrix.ONCE_PER_REMEDIATION:
        sent: dict[str, int] = {}
        for call in calls:
            if call.accepted and (call.service, call.operation) == (service, operation):
                for instance in matrix._instances_of(call):
                    sent[instance] = sent.get(instance, 0) + 1
        problems += [f"{operation} accepted {n} times for {i}" for i, n in sent.items() if n > 1]
    problems += matrix._capacity(h)
    problems += [f"the lock of {g} is still held by {lock.holder(g)}" for g in GROUPS if lock.holder(g)]
    problems += [f"claim left on {c.group} by {c.owner}" for c in claim.all_claims()]
    later = h.rt.clock.now() + 900
    for instance in h.built.instance_ids:
        out = [tg for tg in h.built.target_group_arns if h.sim.target_state(instance, tg, at=later) != "healthy"]
        if out:
            problems.append(f"{instance} out of service in {len(out)} target group(s)")
    return problems


@pytest.mark.parametrize("case", ALL_OVERLAP if FULL else SMOKE_OVERLAP, ids=lambda c: c.id)
def test_overlap_fault(harness: Any, case: matrix.Case, shared_guard_off: None) -> None:
    h = harness()
    declare_two_groups_over_one_fleet(h)
    fault = in_one_execution(h, matrix.inject(h, case))
    start_together(h, GROUPS)
    assert fault.fired, f"the fault never fired: {case.function} made no {case.service}.{case.operation} call"
    h.rt.interceptor.clear_faults()
    matrix.operator_replays(h)
    problems = overlap_problems(h)
    assert not problems, "\n".join(problems)
    # (a reboot answered 5xx may have been accepted: it is resent only once the boot time proves none was queued,
    # and that resend fails too while the outage lasts; the ladder's stop/start then does the restart)
    restarted = [what for what, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
    unknown = case.kind == "server-error" and case.operation == "RebootInstances"
    assert h.sim.reboot_requests(h.leaker) or (unknown and restarted), "the leaker was never rebooted"


# -- a lease lost before a polling Task -----------------------------------------------------------------------

THIEF = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:took-the-group-over"


@pytest.mark.parametrize("task", ALL_LEASE if FULL else SMOKE_LEASE)
def test_lock_taken_over_before_a_polling_task(harness: Any, task: str) -> None:
    scenario = matrix.SCENARIOS[scenario_running(task)]
    h = scenario.build(harness)
    taken: list[float] = []

    def take_the_lock(name: str, _: dict[str, Any]) -> None:
        # the lease ran out and another execution took the group, right before this Task
        if name == f"nightshift-{task}" and not taken:
            now = h.rt.clock.now()
            lock.GroupLock("web", owner=THIEF, acquired_at=now, expires_at=now + 7200,
                           purge_at=datetime.fromtimestamp(int(now + 7200 + 86400), UTC)).save()
            taken.append(now)

    h.rt.router.before.append(take_the_lock)
    result = h.run(reason="fault matrix: lease lost")
    assert taken, f"{task} never ran in scenario {scenario.name}"
    assert result["status"] == "FAILED" and "LockLost" in (result.get("cause") or ""), result
    lost = [r for r in h.audit_records() if r["event"] == "LOCK_LOST"]
    assert len(lost) == 1 and lost[0]["details"]["holder"] == THIEF, lost
    holder = lock.holder("web")
    assert holder is not None and holder.owner == THIEF, "the other owner's lock was touched"
    later = h.rt.clock.now() + 900
    for instance in h.built.instance_ids:
        states = {h.sim.target_state(instance, tg, at=later) for tg in h.built.target_group_arns}
        # the ladder's leaker is broken (its application fails on every host): put back means registered again
        back = {"healthy"} if instance != h.leaker or scenario.end == "rebooted" else {"healthy", "unhealthy"}
        assert states <= back, f"{instance} not back in every target group: {states}"
    calls = h.rt.api_calls()
    reboots = [c for c in calls if c.accepted and c.operation == "RebootInstances"]
    assert len(reboots) <= 1, reboots
    assert not matrix._capacity(h)
    assert not list(claim.all_claims()), "a claim was left behind"
    assert [r["event"] for r in h.audit_records()].count("FAILED") == 1


# -- the families can fail ------------------------------------------------------------------------------------

def test_the_overlap_family_finds_a_disabled_claim(harness: Any, monkeypatch: pytest.MonkeyPatch,
                                                   shared_guard_off: None) -> None:
    """With the instance claim always granted, both groups remediate the leaker: two reboots at the API."""
    monkeypatch.setattr(claim, "acquire", lambda *_, **__: claim.ClaimOutcome(True))
    with pytest.raises(AssertionError, match=r"RebootInstances accepted 2 times|out of service together"):
        test_overlap_fault(harness, SMOKE_OVERLAP[0], shared_guard_off)


def test_the_lease_family_finds_a_disabled_renewal(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the renewal's owner check gone, the remediation runs on in a group another execution holds."""
    from steps.remediate import lease

    monkeypatch.setattr(lease, "keep", lambda ctx, wait_seconds: ctx.now + wait_seconds)
    with pytest.raises(AssertionError, match="SUCCEEDED"):  # it ran on to the end, in a group not its own
        test_lock_taken_over_before_a_polling_task(harness, SMOKE_LEASE[0])
