"""Faults in the termination drain (statemachine/drain.asl.json): termination is never blocked by us.

The calls each drain Task makes are recorded from a clean scale-in (so the cases follow the code, as the fault
matrix's catalogue does), then every (Task, service, operation) gets the matrix's fault kinds
(tests/faults/matrix.py ``kinds_for`` and ``inject``: throttling once, a 5xx for as long as the Task retries,
and for mutating calls the answer lost, the runtime dying after the call, the sandbox timing out before it).
After each run: the execution ended, and the lifecycle action was completed with CONTINUE exactly once at the
API — except when CompleteLifecycleAction itself fails for good: then the execution fails visibly
(``LifecycleActionNotCompleted``) and the hook's default result (CONTINUE) lets the instance go at its timeout.
``make test`` runs one case per Task; NIGHTSHIFT_FAULT_MATRIX=full runs them all.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.faults import matrix
from tests.workflow.test_termination_drain import QUIET, hook_fleet

pytestmark = pytest.mark.workflow

FULL = os.environ.get("NIGHTSHIFT_FAULT_MATRIX") == "full"
TASKS = ("prepare-termination-drain", "check-termination-drain", "complete-lifecycle-action")


def scale_in() -> tuple[Any, dict[str, Any]]:
    """A fresh runtime (the caller closes it before the next: moto's state is process-wide) and a scale-in."""
    from tests.harness import open_harness

    h = open_harness(hook_fleet(heartbeat=60, inflight=100.0), drain={"signal": "ssm", "poll_seconds": 10})
    return h, h.sim.scale_in(h.built.instance_ids[QUIET])


def run(h: Any, event: dict[str, Any]) -> dict[str, Any]:
    from tests.harness import invoke

    started = invoke("termination-trigger", event)
    execution: dict[str, Any] = h.rt.wait(started["execution_arn"], timeout=300)
    return execution


def completes(h: Any) -> list[Any]:
    return [c for c in h.rt.api_calls() if c.operation == "CompleteLifecycleAction" and c.accepted
            and c.params.get("LifecycleActionResult") == "CONTINUE"]


def recorded_cases() -> list[matrix.Case]:
    h, event = scale_in()
    try:
        assert run(h, event)["status"] == "SUCCEEDED"
        pairs = sorted({(c.function.removeprefix("nightshift-"), c.service, c.operation) for c in h.rt.api_calls()
                        if c.function and c.function.removeprefix("nightshift-") in TASKS})
    finally:
        h.rt.__exit__(None, None, None)
    assert {task for task, _, _ in pairs} == set(TASKS), "a drain Task made no AWS call in the clean run"
    cases = [matrix.Case("drain", task, service, operation, kind) for task, service, operation in pairs
             for kind in matrix.kinds_for(service, operation)]
    if FULL:
        return cases
    # one per Task: its most consequential call's outage (mutating first), as the matrix's smoke slice does
    ranked = sorted(cases, key=lambda c: (not matrix.mutating(c.operation), c.kind != "server-error"))
    return [next(c for c in ranked if c.task == task) for task in TASKS]


def test_every_fault_in_the_drain_still_lets_the_instance_go(aws_env: None) -> None:
    problems: list[str] = []
    cases = recorded_cases()
    for case in cases:
        h, event = scale_in()
        try:
            instance = h.built.instance_ids[QUIET]
            fault = matrix.inject(h, case)
            execution = run(h, event)
            sent = completes(h)
            others = [c for c in h.rt.api_calls() if c.operation == "CompleteLifecycleAction" and c.accepted
                      and c.params.get("LifecycleActionResult") != "CONTINUE"]
            action = h.sim.lifecycle_action(instance)
            h.rt.clock.advance(600)  # past the hook's heartbeat timeout and the termination
            gone = h.sim.instance_state(instance) == "terminated"
        finally:
            h.rt.__exit__(None, None, None)
        if not fault.fired:
            problems.append(f"{case.id}: the fault never fired")
            continue
        if execution["status"] not in ("SUCCEEDED", "FAILED") or not gone or others or len(sent) > 1:
            problems.append(f"{case.id}: execution {execution['status']}, terminated {gone}, {len(sent)} "
                            f"CONTINUE and {len(others)} other completions")
        # Completed by us unless our own calls could not reach Auto Scaling before the hook's timeout did it
        # (then the execution says so: it failed).
        if not sent and (execution["status"] != "FAILED" or action.completed_at is not None):
            problems.append(f"{case.id}: not completed by us, yet the execution {execution['status']}")
    assert not problems, "\n".join(problems)
    assert len(cases) >= 3
