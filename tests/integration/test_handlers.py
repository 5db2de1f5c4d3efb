"""GIVEN a simulated fleet in moto WHEN a step handler runs (again) THEN AWS and the records say so."""

from __future__ import annotations

import pytest

from steps.core.exceptions import AwsCallFailed, AwsThrottled, BootNotConfirmed, InvalidRequest, LifecycleConflict
from steps.store import audit, lifecycle, lock
from tests.harness import Steps


def events() -> list[str]:
    return [r.event for r in audit.for_group("web")]


@pytest.mark.parametrize(("start", "field"), [
    ({"group": "nope"}, "group: unknown group 'nope'"),
    ({"instance_id": "i-123"}, "instance_id:"),
    ({"instance_id": "i-0123456789abcdef0"}, "instance_id: i-0123456789abcdef0 is not registered"),
    ({"dry_run": "maybe"}, "dry_run:"),
    ({"colour": "red"}, "colour: unknown field; remove it"),
])
def test_bad_input_names_the_field_and_creates_nothing(steps: Steps, start: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest, match=field):
        steps.validate(**start)
    with pytest.raises(LifecycleConflict):
        lifecycle.load("it-1")  # no record was written


def test_the_request_is_normalised_and_the_lifecycle_opened(steps: Steps) -> None:
    out = steps.validate(reason="leak", requested_by="sre")
    assert out["request"]["remediation_id"] == "it-1" and out["request"]["trigger"] == "manual"
    assert lifecycle.load("it-1").state == "requested"


def test_a_lock_whose_owner_execution_does_not_exist_is_taken_over(steps: Steps) -> None:
    steps.validate()
    assert steps.call("acquire-group-lock", "lock")["acquired"] is True
    # WHEN, past the grace DescribeExecution's eventual consistency needs, another execution asks for the lock
    # held by "it-1", which Step Functions does not know
    steps.rt.clock.advance(lock.MISSING_OWNER_GRACE_SECONDS + 1)
    other = Steps(steps.rt, steps.sim, steps.built)
    other.execution_id = steps.execution_id.replace("it-1", "it-2")
    other.state = dict(steps.state)
    outcome = other.call("acquire-group-lock")
    assert outcome["acquired"] is True
    assert lock.holder("web").owner == other.execution_id  # type: ignore[union-attr]
    assert "LOCK_TAKEN_OVER" in events()


def test_selection_picks_the_leaker_and_a_replayed_selection_returns_the_record(steps: Steps) -> None:
    steps.validate()
    first = steps.call("select-worst-instance", "selection")
    assert first["action"] == "remediate" and first["instance_id"] == steps.leaker
    assert steps.sim.api_calls()["cloudwatch.GetMetricData"] == 1
    again = steps.call("select-worst-instance")
    assert again == first
    assert steps.sim.api_calls()["cloudwatch.GetMetricData"] == 1  # recorded, not re-decided


def test_a_named_healthy_instance_is_nothing_to_do(steps: Steps) -> None:
    steps.validate(instance_id=str(steps.built.instance_ids[0]))
    assert steps.call("select-worst-instance")["action"] == "nothing_to_do"
    assert lifecycle.load("it-1").state == "nothing_to_do"


def test_capacity_refusal_and_dry_run_change_nothing(steps: Steps) -> None:
    steps.validate(dry_run=True)
    steps.call("select-worst-instance", "selection")
    out = steps.call("check-capacity", "capacity")
    assert out == {"allowed": True, "dry_run": True, "code": "CAPACITY_OK", "reason": out["reason"], "plan": "reboot"}
    assert events()[-1] == "DRY_RUN"
    assert lifecycle.load("it-1").state == "planned"
    assert all(steps.sim.target_state(steps.leaker, tg) == "healthy" for tg in steps.built.target_group_arns)


def _through_deregistration(steps: Steps) -> dict[str, object]:
    steps.validate()
    steps.call("acquire-group-lock", "lock")  # the poll loops renew it, and stop when it is not theirs
    steps.call("select-worst-instance", "selection")
    return steps.call("deregister-instance", "deregistration")


def test_deregistration_is_recorded_before_acting_and_is_idempotent(steps: Steps) -> None:
    out = _through_deregistration(steps)
    assert {tg["arn"] for tg in out["target_groups"]} == set(steps.built.target_group_arns)  # type: ignore[union-attr]
    assert out["delay_seconds"] == 300
    assert all(steps.sim.target_state(steps.leaker, tg) == "draining" for tg in steps.built.target_group_arns)
    assert steps.call("deregister-instance") == out  # a Retry returns the recorded plan
    assert lifecycle.load("it-1").state == "draining"


def test_ssm_drain_signal_needs_k_distinct_command_readings(steps: Steps) -> None:
    _through_deregistration(steps)
    first = steps.call("check-drain", "drain")
    assert first["done"] is False and first["command_id"]  # a command was sent, nothing read yet
    steps.rt.clock.advance(5)
    second = steps.call("check-drain", "drain")
    assert second["quiet"] == 1 and second["done"] is False
    steps.rt.clock.advance(5)
    third = steps.call("check-drain", "drain")
    assert third["quiet"] == 2 and third["done"] is True and third["ended_by"] == "ssm"


def test_reboot_is_requested_once_even_when_retried(steps: Steps) -> None:
    _through_deregistration(steps)
    steps.call("reboot-instance", "reboot")
    steps.call("reboot-instance", "reboot")  # a Retry after a crash-after-the-call
    assert len(steps.sim.reboot_requests(steps.leaker)) == 1


def test_a_throttled_reboot_is_sent_again_by_the_retry(steps: Steps) -> None:
    _through_deregistration(steps)
    steps.rt.inject("ec2", "RebootInstances", "RequestLimitExceeded", "slow down", times=1)
    with pytest.raises(AwsThrottled):
        steps.call("reboot-instance", "reboot")
    assert steps.sim.reboot_requests(steps.leaker) == []
    steps.call("reboot-instance", "reboot")
    assert len(steps.sim.reboot_requests(steps.leaker)) == 1


def test_boot_is_not_done_while_the_reboot_is_only_queued(steps: Steps) -> None:
    _through_deregistration(steps)
    steps.call("reboot-instance", "reboot")
    first = steps.call("check-boot", "boot")
    assert first["done"] is False and first["phase"] == "confirming"  # status reads ok, proves nothing
    for _ in range(12):
        steps.rt.clock.advance(first["wait_seconds"])
        first = steps.call("check-boot", "boot")
        if first["done"]:
            break
    assert first["done"] and first["confirmed_by"] == "boot_time"
    assert len(steps.sim.reboots(steps.leaker)) == 1
    assert lifecycle.load("it-1").state == "registering"


def test_boot_deadline_fails_with_the_reason(steps: Steps) -> None:
    _through_deregistration(steps)
    steps.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "no", times=None)
    with pytest.raises(AwsCallFailed):
        steps.call("reboot-instance", "reboot")
    steps.state["reboot"] = {"instance_id": steps.leaker, "requested_at": steps.rt.clock.now()}
    lifecycle_record = lifecycle.load("it-1")
    assert lifecycle_record.state == "rebooting"
    steps.rt.clock.advance(901)
    with pytest.raises(BootNotConfirmed, match="no proof that the reboot happened"):
        steps.call("check-boot", "boot")


def test_restore_puts_a_drained_instance_back_everywhere(steps: Steps) -> None:
    _through_deregistration(steps)
    out = steps.call("restore-service", error={"Error": "Boom", "Cause": "injected"})
    assert out["restored"] is True and out["error"] == "Boom"
    assert all(steps.sim.target_state(steps.leaker, tg) in {"initial", "healthy"}
               for tg in steps.built.target_group_arns)
    assert lifecycle.load("it-1").state == "restored"
    assert events()[-2:] == ["RESTORED", "FAILED"]
    assert steps.call("restore-service", error={"Error": "Boom", "Cause": "again"})["restored"] is True


def test_register_refuses_without_a_recorded_deregistration(steps: Steps) -> None:
    steps.validate()
    steps.call("select-worst-instance", "selection")
    with pytest.raises(LifecycleConflict):
        steps.call("register-instance")


def test_injected_errors_reach_handlers_as_aws_errors(steps: Steps) -> None:
    # Guard for the fault hook itself: a throttled DescribeTargetHealth surfaces as AwsThrottled.
    steps.validate()
    steps.rt.inject("elastic-load-balancing-v2", "DescribeTargetHealth", "Throttling", "rate", times=1)
    with pytest.raises(AwsThrottled):
        steps.call("select-worst-instance")


def test_an_instance_draining_from_any_target_group_is_never_selected(steps: Steps) -> None:
    # GIVEN someone else is already draining the leaking instance from one of its two target groups
    steps.rt.client("elbv2").deregister_targets(TargetGroupArn=steps.built.target_group_arns[0],
                                                Targets=[{"Id": steps.leaker}])
    steps.validate()
    out = steps.call("select-worst-instance")
    assert out["action"] == "nothing_to_do"


def test_a_refused_drain_command_resets_the_quiet_count(steps: Steps) -> None:
    _through_deregistration(steps)
    first = steps.call("check-drain", "drain")
    assert first["command_id"]
    steps.rt.clock.advance(5)
    # GIVEN one quiet reading, then SSM refuses the next command (the agent is not online)
    steps.rt.inject("ssm", "SendCommand", "InvalidInstanceId", "Instances not in a valid state", times=1)
    second = steps.call("check-drain", "drain")
    assert second["done"] is False and second["command_id"] is None and second["agent_offline"] is True
    # THEN the quiet count starts again: the reading before the gap does not count towards the end
    assert second["quiet"] == 0
    assert "DRAIN_SIGNAL_UNAVAILABLE" in events()
    steps.rt.clock.advance(5)
    third = steps.call("check-drain", "drain")  # the agent answers again: a new command
    assert third["command_id"] and third["done"] is False
    steps.rt.clock.advance(5)
    fourth = steps.call("check-drain", "drain")
    assert fourth["quiet"] == 1 and fourth["done"] is False  # one reading after the gap is not enough
    steps.rt.clock.advance(5)
    fifth = steps.call("check-drain", "drain")
    assert fifth["quiet"] == 2 and fifth["done"] is True and fifth["ended_by"] == "ssm"
