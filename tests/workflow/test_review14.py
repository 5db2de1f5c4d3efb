"""Review of issue 14's fixes: inputs and failures that still get past them (each test names the hole).

A test marked xfail(strict=True) reproduces a defect that is not fixed yet: it fails today, and the strict
mark turns the fix into a reminder to remove the mark.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from nightshift import replay
from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import alarm_claims, audit, claim, lifecycle
from steps.triggers import alarm_trigger
from tests.harness import LEAKER, fail_first_audit, invoke
from tests.workflow.test_triggers import alarm_event, invoke_alarm

pytestmark = pytest.mark.workflow


def _leak_returns(harness: Any, **overrides: Any) -> Any:
    spec = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=60)})
    return harness(spec, blockers={"instance_cooldown_seconds": 0}, **overrides)


# -- remediation_id: the default one (the execution's name) is an id too ---------------------------------------


def test_an_execution_named_after_a_finished_remediation_does_not_replay_it(harness: Any) -> None:
    """validate_request checked only an explicit ``remediation_id``; without one the id is the execution's name,
    and a console start *named* after an earlier remediation's explicit id joined that finished record and
    replayed its recorded results (issue 14 item 5, through the name instead of the field)."""
    h = _leak_returns(harness)
    first = h.run(remediation_id="console-1")
    assert first["status"] == "SUCCEEDED" and lifecycle.load("console-1").state == "healthy"
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    trail = h.audit_events()
    h.rt.clock.advance(600)  # the leak is back; no cooldown
    # WHEN someone starts an execution whose name is that remediation id, with no remediation_id field
    again = h.rt.run({"group": "web"}, name="console-1")
    # THEN it is refused at validation, naming the id, and the old record is untouched
    assert again["status"] == "FAILED" and again["error"] == "InvalidRequest", again
    assert "remediation_id: console-1 belongs to an earlier remediation" in again["cause"]
    assert "start it under another execution name" in again["cause"]
    assert h.audit_events() == trail
    assert lifecycle.load("console-1").executions == [first["executionArn"]]
    assert len(h.sim.reboot_requests(h.leaker)) == 1


# -- a replay that only verifies health holds no instance claim -------------------------------------------------


def test_a_replay_verifying_health_holds_the_instance_claim(harness: Any) -> None:
    h = harness()
    crashed: list[str] = []

    def crash(name: str, *_: Any) -> None:
        if name == "nightshift-check-boot" and not crashed:
            crashed.append(name)
            raise RuntimeError("crashed after the reboot")

    h.rt.router.before.append(crash)
    failed = h.run()
    assert failed["status"] == "FAILED" and len(h.sim.reboot_requests(h.leaker)) == 1
    assert claim.holder(h.leaker) is None  # the failed run released its claim
    seen: list[str | None] = []

    def watch(name: str, *_: Any) -> None:
        if name == "nightshift-check-health":
            current = claim.holder(h.leaker)
            seen.append(current.owner if current else None)

    h.rt.router.before.append(watch)
    result = replay.replay(h.rt.client("stepfunctions"), failed["executionArn"])
    done = h.rt.wait(result.execution_arn)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert "REPLAY_VERIFY" in h.audit_events()  # the verify path, not a new selection
    # THEN the replay held the instance's claim at every health check, and released it at the end
    assert seen and all(owner == result.execution_arn for owner in seen), seen
    assert claim.holder(h.leaker) is None


# -- the alarm trigger ------------------------------------------------------------------------------------------


def test_a_delivery_dying_after_the_audited_mark_still_leaves_one_alarm_started(
        harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness()
    event = alarm_event("nightshift-web-memory", h.leaker)
    died = fail_first_audit(monkeypatch, alarm_trigger, "ALARM_STARTED",
                            RuntimeError("Task timed out after 30.00 seconds"))
    with pytest.raises(RuntimeError):
        invoke_alarm(event)
    assert died == ["ALARM_STARTED"]
    retried = invoke_alarm(event)  # Lambda retries a failed asynchronous invocation
    assert h.rt.wait(retried["execution_arn"])["status"] == "SUCCEEDED"
    events = h.audit_events()
    assert events.count("ALARM_STARTED") == 1, events


ALARM_NAME = "nightshift-web-memory"


def test_an_orphaned_alarm_claim_does_not_prove_a_console_start_with_other_input(harness: Any) -> None:
    h = harness()
    changed_at = datetime.fromisoformat("2026-11-23T03:00:00+00:00")
    name = alarm_trigger.execution_name(ALARM_NAME, changed_at)
    # The first delivery claimed the name for an alarm on the leaker, then died before StartExecution.
    assert alarm_claims.claim(name, "web", ALARM_NAME, changed_at.isoformat(), h.rt.clock.now())
    other = h.built.instance_ids[0]
    forged = {"group": "web", "trigger": "alarm", "instance_id": other,
              "alarm": {"name": "something-else", "time": "2026-11-27T00:00:00+00:00", "reason": "forged",
                        "found_by": "tag nightshift:group"}}
    result = h.rt.run(forged, name=name)
    assert result["status"] == "FAILED" and result["error"] == "InvalidRequest", result
    assert "alarm" in result["cause"]
    assert [r.event for r in audit.for_group("web")] == []


# -- the CLI ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--logs", "--timeline"])
def test_demo_with_an_unwritable_output_path_says_so_in_one_line(option: str) -> None:
    """``demo --logs /proc/nope/x.jsonl`` printed a FileNotFoundError traceback from mkdir."""
    import contextlib
    import io

    from nightshift.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["demo", "--size", "6", option, "/proc/nope/out.file"])
    assert code == 2
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
    assert lines[0].startswith(f"nightshift demo: {option} /proc/nope/out.file: cannot create /proc/nope")


# -- configuration broken mid-flight, then the reconciler -------------------------------------------------------


def test_standby_left_by_a_removed_group_is_finished_by_the_reconciler(harness: Any) -> None:
    import json as _json

    from nightshift.sim import AutoScalingSpec
    from steps.core import groups
    from steps.sweep import reconcile

    h = harness(FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)},
                          auto_scaling=AutoScalingSpec(min_size=2)))
    broken: list[str] = []

    def remove_the_group(name: str, *_: Any) -> None:
        if name == "nightshift-check-drain" and not broken:
            from nightshift.runtime.runner import GROUPS_PARAMETER

            h.rt.client("ssm").put_parameter(Name=GROUPS_PARAMETER, Overwrite=True, Type="String",
                                             Value=_json.dumps({"groups": [{**h.group, "name": "other"}]}))
            groups.reset()
            broken.append(name)

    h.rt.router.before.append(remove_the_group)
    result = h.run()
    assert broken and result["status"] == "FAILED", result
    events = h.audit_events()
    assert "RESTORED" in events and "STANDBY_EXIT_PENDING" in events, events
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()
    # WHEN the deregistration delay has passed and the sweep's reconciler runs
    h.rt.clock.advance(400)
    invoke(reconcile.handler, {"execution_id": "arn:aws:states:us-east-1:123456789012:execution:sweep:s1"})
    # THEN it took the instance out of the Standby the removed group's remediation put it in
    assert h.sim.asg_lifecycle(h.leaker) == "InService", h.sim.asg_lifecycle(h.leaker)
    # and the marker that led it there is gone once nothing is left open: the next sweep does not visit the group
    from steps.store import reconcile_progress
    assert "web" not in reconcile_progress.groups_with_work()


def test_ctrl_c_while_start_follows_says_the_remediation_goes_on(harness: Any, monkeypatch: pytest.MonkeyPatch,
                                                                  ) -> None:
    """Ctrl-C during ``nightshift start`` printed a KeyboardInterrupt traceback and nothing else: the person
    may well believe they stopped the remediation, which keeps running."""
    import contextlib
    import io

    from nightshift import operations
    from nightshift.cli import main

    harness()

    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt
        yield  # a generator, like follow

    monkeypatch.setattr(operations, "follow", interrupted)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["start", "--group", "web", "--poll", "0.01"])
    assert code == 130
    started = out.getvalue().split()[-1]
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
    assert f"{started} is still running" in lines[0]


# -- free text a hostile caller types ---------------------------------------------------------------------------


def test_free_text_with_control_characters_is_refused_at_validation(harness: Any) -> None:
    from tests.workflow.test_request_origin import refused

    h = harness()
    forged = "memory\n2026-11-27 03:00:00  HEALTHY  i-0123456789abcdef0  manual  all good \x1b[2J"
    refused(h, {"group": "web", "dry_run": True, "reason": forged}, "reason")


# -- DescribeExecution is eventually consistent ---------------------------------------------------------------


def test_a_claim_of_an_owner_describe_execution_cannot_see_yet_is_not_taken_over(harness: Any) -> None:
    h = harness()
    now = h.rt.clock.now()
    fresh = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:just-started"
    assert claim.acquire(h.leaker, fresh, "web", "just-started", now, 7200, lambda _: "RUNNING").claimed
    other = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:api-run"
    # two seconds later, another group's selection reads the owner before DescribeExecution has caught up
    outcome = claim.acquire(h.leaker, other, "api", "api-run", now + 2, 7200, lambda _: "GONE")
    assert not outcome.claimed and outcome.holder == fresh, outcome
