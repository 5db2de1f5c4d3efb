"""The fault matrix, at the AWS layer: each AWS call of each Lambda Task of both state machines, failed in
each way AWS fails, before and after the call takes effect; after each run, and again after the operator's
`replay --failed`, the safety invariants hold.

The calls come from tests/faults/catalogue.json, recorded at the AWS layer (botocore's events, PynamoDB's
DynamoDB calls included) during clean runs of five scenarios that together run every Lambda Task of
remediate and sweep: a reboot; the escalation ladder in an Auto Scaling group (stop/start, replace) and
outside one (leave out); a failure restored and then replayed (restore, resume); a sweep that reconciles
what a dead execution left out (reconcile, list groups, summarise). A Task that makes no AWS call
(list-groups: the groups document is cached per container) gets faults of its Lambda runtime instead.

Fault kinds (tests/faults/matrix.py): the service's own throttling error, once; a 5xx for as long as the
Task is retried (it reaches the Catch and the restore path, or `Restore failed`); the AWS error meaning "not
yet" where the operation has one, once; and for calls that change something: the answer lost after the
call took effect (read timeout), the Lambda runtime dying right after the call succeeded (Lambda.Unknown),
the sandbox timing out just before the call (Sandbox.Timedout). Each fault targets one operation within
one Task (the same operation in other Tasks is untouched).

Invariants (matrix.check_invariants): at most one accepted RebootInstances, StopInstances, StartInstances,
SetInstanceHealth per instance over the remediation and its replays, counted at the API from the requests
AWS accepted; only the selected instance deregistered, only a deregistered one registered; never below the
minimum healthy, never two instances out of service at any simulated instant; no lock held; every failed
execution that acted has a FAILED audit record with its error and cause; every instance in service, or
left out deliberately (LEFT_OUT_OF_SERVICE audited and a notification published), or (before the replay) out after a
failure that was audited and published. After `replay --failed` the leaker ends as in the clean run.

`make test` runs one case per Task (matrix.smoke, 20 cases); `make faults` runs the whole matrix
(NIGHTSHIFT_FAULT_MATRIX=full): 282 cases plus the catalogue check. Cost: about 8 CPU-seconds a case (measured
over the 20-case slice on a shared machine), so roughly 20 minutes with -n 2 on two idle cores; a full run
was not timed end to end.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.faults import matrix

FULL = os.environ.get("NIGHTSHIFT_FAULT_MATRIX") == "full"
ALL_CASES = matrix.cases(matrix.load_catalogue())
CASES = ALL_CASES if FULL else matrix.smoke(ALL_CASES)

# Cases that find a defect too big to fix here (xfail, strict: a fix makes them fail until removed): id -> defect.
KNOWN_DEFECTS: dict[str, str] = {
}


def test_every_lambda_task_of_both_machines_has_cases() -> None:
    tasks = matrix.lambda_tasks()
    covered = {case.task for case in ALL_CASES}
    missing = {task: states for task, states in tasks.items() if task not in covered}
    assert not missing, f"Lambda Tasks with no recorded calls in the fault matrix: {missing}; " \
                        "add a scenario that runs them and re-record: python -m tests.faults.matrix --write"
    assert len(tasks) >= 20  # 17 remediate functions, 3 sweep functions (the ASL's 21 Lambda Task states)


def test_the_smoke_slice_has_one_case_per_task() -> None:
    slice_ = matrix.smoke(ALL_CASES)
    assert sorted(c.task for c in slice_) == sorted(matrix.lambda_tasks())


@pytest.mark.skipif(not FULL, reason="re-records every scenario (2 minutes): make faults")
def test_the_catalogue_is_what_the_steps_call_now() -> None:
    recorded = matrix.record_all()
    catalogue = matrix.load_catalogue()
    new = {(name, task, tuple(pair)) for name, tasks in recorded.items() for task, pairs in tasks.items()
           for pair in pairs if pair not in catalogue.get(name, {}).get(task, [])}
    assert not new, f"steps make calls the matrix does not fault: {sorted(new)}; " \
                    "re-record: python -m tests.faults.matrix --write"


def _params(cases: list[matrix.Case]) -> list[Any]:
    return [pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[case.id])]
                         if case.id in KNOWN_DEFECTS else []) for case in cases]


@pytest.mark.parametrize("case", _params(CASES))
def test_fault(harness: Any, case: matrix.Case) -> None:
    scenario = matrix.SCENARIOS[case.scenario]
    h = scenario.build(harness)
    fault = matrix.inject(h, case)
    scenario.run(h)
    assert fault.fired, f"the fault never fired: {case.function} made no {case.service}.{case.operation} call"
    problems = matrix.check_invariants(h, scenario, final=False)
    assert not problems, "\n".join(problems)
    # the operator replays every failed execution once the outage is over
    h.rt.interceptor.clear_faults()
    matrix.operator_replays(h)
    # The step cannot know whether its call went out when the sandbox died just before it, or when EC2 answered
    # RebootInstances with a 5xx (it may have been accepted: never resent on the record alone; with the outage
    # still on when the boot time proves none was queued, the one resend fails too and the ladder's stop/start
    # does the restart instead).
    unknown = case.kind == "timeout-before" or (case.kind == "server-error" and case.operation == "RebootInstances")
    problems = matrix.check_invariants(h, scenario, final=True, unknown=unknown)
    assert not problems, "after replay --failed:\n" + "\n".join(problems)
