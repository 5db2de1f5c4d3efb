"""A remediation_id typed into the console never replays an old remediation's recorded results (issue 14,
item 5): one that belongs to a finished remediation or to another group is refused at validation, naming
the field, unless replay_of names an execution of that very remediation (the replay path)."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.replay import replay
from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import audit, lifecycle
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow


def _leak_returns(harness: Any, **overrides: Any) -> Any:
    spec = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=60)})
    return harness(spec, blockers={"instance_cooldown_seconds": 0}, **overrides)


def test_a_finished_remediations_id_is_refused_and_nothing_is_replayed(harness: Any) -> None:
    h = _leak_returns(harness)
    first = h.run(remediation_id="console-1")
    assert first["status"] == "SUCCEEDED" and lifecycle.load("console-1").state == "healthy"
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    trail = h.audit_events()
    h.rt.clock.advance(600)  # the leak is back, and no cooldown stops a second reboot
    # WHEN an operator pastes the same remediation_id into the console again
    again = h.run(remediation_id="console-1")
    # THEN it is refused at validation, naming the field and the fix; nothing was replayed or touched
    assert again["status"] == "FAILED" and again["error"] == "InvalidRequest", again
    assert "remediation_id: console-1 belongs to an earlier remediation" in again["cause"]
    assert "omit remediation_id" in again["cause"]
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    assert h.audit_events() == trail  # no second DRAINED/REBOOTED/HEALTHY out of the old record
    assert lifecycle.load("console-1").executions == [first["executionArn"]]
    # AND without the reused id, a new remediation reboots it for real
    fresh = h.run()
    assert fresh["status"] == "SUCCEEDED" and len(h.sim.reboot_requests(h.leaker)) == 2


def test_another_groups_remediation_id_is_refused_naming_the_field(harness: Any) -> None:
    h = _leak_returns(harness)
    https, http = h.built.target_group_arns
    h.rt.declare_groups([{**h.group, "target_group_arns": [https]},
                         {**h.group, "name": "api", "target_group_arns": [http]}])
    # the leaker serves only in web's target group (one in both is passed over by both: SKIPPED_SHARED)
    h.sim.asg_deregister(h.leaker, [http], h.sim.now())
    h.rt.clock.advance(h.sim.spec.deregistration_delay + 1)
    assert h.run(remediation_id="web-1")["status"] == "SUCCEEDED"
    h.rt.clock.advance(600)
    other = h.rt.run({"group": "api", "remediation_id": "web-1"})
    assert other["status"] == "FAILED" and other["error"] == "InvalidRequest", other
    assert "remediation_id: web-1 belongs to a remediation of group 'web', not 'api'" in other["cause"]
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    assert [r.event for r in audit.for_group("api")] == []


def test_replay_of_must_name_an_execution_of_that_remediation(harness: Any) -> None:
    h = _leak_returns(harness)
    h.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "not allowed to reboot", times=1)
    failed = h.run(remediation_id="console-2")
    assert failed["status"] == "FAILED" and h.in_service_everywhere(h.leaker)
    unrelated = h.run(reason="an unrelated remediation")
    assert unrelated["status"] == "SUCCEEDED"
    h.rt.clock.advance(600)
    # WHEN the failed remediation's id comes with replay_of naming another execution: refused
    wrong = h.run(remediation_id="console-2", replay_of=unrelated["executionArn"], trigger="replay")
    assert wrong["status"] == "FAILED" and wrong["error"] == "InvalidRequest"
    # (request_origin refuses it first: the named execution SUCCEEDED, so it is no replay of anything)
    assert f"replay_of: {unrelated['executionArn']} is SUCCEEDED" in wrong["cause"], wrong["cause"]
    assert "console-2" not in {r.remediation_id for r in audit.for_group("web")
                               if r.execution_id == wrong["executionArn"]}
    # AND the replay path (replay_of that very execution) is allowed, and resumes it
    replayed = h.rt.wait(replay(h.rt.client("stepfunctions"), failed["executionArn"]).execution_arn)
    assert replayed["status"] == "SUCCEEDED", replayed.get("cause")
    record = lifecycle.load("console-2")
    assert record.state == "healthy" and record.executions == [failed["executionArn"], replayed["executionArn"]]
