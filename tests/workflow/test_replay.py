"""Replay safety: fail each step (before it acts, or crash right after its AWS calls), replay the failed
execution, and the fleet ends whole: every instance in service, the leaking one rebooted exactly once,
no lock held, the replay linked to what it replays."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.replay import ReplayRefused, replay
from steps.store import audit, lifecycle
from tests.faults import matrix

pytestmark = pytest.mark.workflow


def _goes_on_after_any_failure(state: dict[str, Any]) -> bool:
    """A Task whose catch-all leads where its success leads: its failure fails no execution."""
    return any("States.ALL" in c["ErrorEquals"] and c["Next"] == state.get("Next") for c in state.get("Catch", []))


def replayable_steps() -> list[str]:
    """Every Lambda Task a clean reboot run invokes (the fault matrix's recorded catalogue), in ASL order, but
    those whose every Task state goes on after any failure (the announcements): nothing to replay there."""
    ran = matrix.load_catalogue()["reboot"]
    return [function for function, states in matrix.lambda_task_states().items()
            if function in ran and not all(_goes_on_after_any_failure(state) for _, _, state in states)]


STEPS = replayable_steps()


class InjectedFault(Exception):
    """Not in any Retry list: the failure reaches the Catch (or fails the execution)."""


def fail_once(function: str, when: str) -> tuple[Any, list[str]]:
    fired: list[str] = []

    def hook(name: str, *_: Any) -> None:
        if name == f"nightshift-{function}" and not fired:
            fired.append(name)
            raise InjectedFault(f"injected {when} {function}")

    return hook, fired


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("function", STEPS)
def test_fail_then_replay_heals_once_and_leaves_nothing_behind(harness: Any, function: str, when: str) -> None:
    h = harness()
    hook, fired = fail_once(function, when)
    (h.rt.router.before if when == "before" else h.rt.router.after).append(hook)
    first = h.run(reason="will fail")
    assert fired, f"the fault in {function} never fired"
    assert first["status"] == "FAILED"
    assert not h.lock_held()
    result = replay(h.rt.client("stepfunctions"), first["executionArn"])
    assert result.how == "new"  # moto cannot redrive: a new execution with lineage
    final = h.rt.wait(result.execution_arn)
    assert final["status"] == "SUCCEEDED", final.get("cause")
    # THEN: the leaking instance really rebooted exactly once over both runs
    assert len(h.sim.reboots(h.leaker)) == 1
    assert all(not h.sim.reboots(i) for i in h.built.instance_ids if i != h.leaker)
    # AND every instance is in service, healthy, in every target group
    assert all(h.sim.target_state(i, tg) == "healthy" for i in h.built.instance_ids
               for tg in h.built.target_group_arns)
    assert not h.lock_held()
    # AND the replay is recorded against the same remediation
    remediation = first["executionArn"].rsplit(":", 1)[1]
    record = lifecycle.load(remediation)
    assert record.state == "healthy"
    assert result.execution_arn in record.executions
    assert any(r.trigger == "replay" for r in audit.for_group("web"))


def test_replaying_twice_starts_one_replay(harness: Any) -> None:
    h = harness()
    hook, _ = fail_once("check-health", "before")
    h.rt.router.before.append(hook)
    first = h.run()
    sfn = h.rt.client("stepfunctions")
    one = replay(sfn, first["executionArn"])
    two = replay(sfn, first["executionArn"])
    assert (one.how, two.how) == ("new", "already")
    assert one.execution_arn == two.execution_arn
    assert h.rt.wait(one.execution_arn)["status"] == "SUCCEEDED"


def test_a_succeeded_or_invalid_execution_is_not_replayed(harness: Any) -> None:
    h = harness()
    ok = h.run()
    with pytest.raises(ReplayRefused, match="SUCCEEDED"):
        replay(h.rt.client("stepfunctions"), ok["executionArn"])
    bad = h.rt.run({"group": "nope"})
    with pytest.raises(ReplayRefused, match="failed validation"):
        replay(h.rt.client("stepfunctions"), bad["executionArn"])
