"""The escalation step's decisions (steps/remediate/choose_escalation.py), called directly with a hand-made context and
fakes of the AWS reads: which earlier rungs still count as tried, whether a rung can apply, whether AWS
accepted an earlier rung's call, the cause it audits, and the lease it renews. Every expected value is
written by hand; the step's handler strings these together (tested end to end in tests/workflow)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from steps.aws import autoscaling
from steps.aws.autoscaling import GroupSize, Membership
from steps.core.config import RungSpec, parse_groups
from steps.core.events import WorkflowState
from steps.core.exceptions import LockLost
from steps.remediate import choose_escalation as ce
from steps.store import lock

TG1 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/1111111111111111"
TG2 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-http/2222222222222222"
TG3 = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-api/3333333333333333"
ME = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:this-run"
EARLIER = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:earlier-run"
STOP_START = RungSpec(action="stop_start", deadline_seconds=900)
REPLACE = RungSpec(action="replace", deadline_seconds=1200)
LEAVE_OUT = RungSpec(action="leave_out", deadline_seconds=300)


class Ctx:
    """What the helpers read of a StepContext, and the audit entries they write."""

    def __init__(self, state: dict[str, Any] | None = None, **group: Any) -> None:
        self.execution_id = ME
        self.now = 5000.0
        self.state = WorkflowState.model_validate({"request": {"group": "web", "remediation_id": "r-1"},
                                                   **(state or {})})
        self.group = parse_groups({"groups": [{"name": "web", "target_group_arns": [TG1], **group}]}).group("web")
        self.audits: list[tuple[str, str, dict[str, Any]]] = []
        self.lock_key = "web"  # slot 0 of the group lease

    def audit(self, event: str, reason: str, instance_id: str | None = None, **details: Any) -> None:
        self.audits.append((event, reason, {"instance_id": instance_id, **details}))


def no_aws(*_: Any) -> Any:
    raise AssertionError("no AWS call expected")


@pytest.fixture
def asg(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The Auto Scaling view: i-1's membership, and the target groups of asg-web."""
    world: dict[str, Any] = {"member": None, "attached": (), "asked": []}

    def membership(instance_id: str) -> Membership | None:
        world["asked"].append(("membership", instance_id))
        return world["member"]  # type: ignore[no-any-return]

    def group_size(name: str) -> GroupSize:
        world["asked"].append(("group_size", name))
        return GroupSize(name, 1, 4, 2, tuple(world["attached"]))

    def stop_facts(instance_id: str) -> tuple[str | None, str | None]:
        world["asked"].append(("stop_facts", instance_id))
        lifecycle = world.get("lifecycle")
        return str(world.get("root", "ebs")), (str(lifecycle) if lifecycle else None)

    monkeypatch.setattr(autoscaling, "membership", membership)
    monkeypatch.setattr(autoscaling, "group_size", group_size)
    monkeypatch.setattr(ce.ec2, "stop_facts", stop_facts)
    return world


# --- why: the cause the ESCALATING audit and the decision quote --------------------------------------------

def lambda_cause(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message})


@pytest.mark.parametrize(("state", "why"), [
    ({}, "rebooted too often today: escalating instead of rebooting again"),
    ({"escalation": {"rung": "stop_start", "deadline_seconds": 900, "started_at": 1}}, "escalation requested"),
    ({"error": {"Error": "BootNotConfirmed", "Cause": lambda_cause("BootNotConfirmed", "i-1: no proof")}},
     "BootNotConfirmed: i-1: no proof"),
    ({"error": {"Error": "RungTimedOut", "Cause": lambda_cause("RungTimedOut", "stop_start ran out")},
      "escalation": {"rung": "stop_start", "deadline_seconds": 900, "started_at": 1}},
     "RungTimedOut: stop_start ran out"),  # the error says more than "requested"
    ({"error": {"Error": "States.Timeout", "Cause": "the task timed out"}}, "States.Timeout: the task timed out"),
    ({"error": {"Error": "X", "Cause": '{"errorType": "X"}'}}, 'X: {"errorType": "X"}'),  # no message: all of it
    ({"error": {"Error": "X", "Cause": "[1, 2]"}}, "X: [1, 2]"),  # JSON, but not a Lambda error
    ({"error": {"Error": "HealthNotRestored", "Cause": lambda_cause("HealthNotRestored", "a" * 400)}},
     "HealthNotRestored: " + "a" * 300),  # cut at 300 characters
])
def test_why(state: dict[str, Any], why: str) -> None:
    assert ce._why(Ctx(state)) == why  # type: ignore[arg-type]


# --- can a rung apply? --------------------------------------------------------------------------------------

NOT_IN_ASG = "not in an Auto Scaling group (or auto_scaling.enabled is false): nothing would replace it"


def test_leave_out_needs_nothing_and_stop_start_only_an_ebs_root(asg: dict[str, Any]) -> None:
    ctx = Ctx()
    assert ce._cannot_apply(ctx, LEAVE_OUT, "i-1") is None  # type: ignore[arg-type]
    assert asg["asked"] == []
    assert ce._cannot_apply(ctx, STOP_START, "i-1") is None  # type: ignore[arg-type]
    assert asg["asked"] == [("stop_facts", "i-1")]


def test_stop_start_cannot_apply_to_an_instance_store_root(asg: dict[str, Any]) -> None:
    asg["root"] = "instance-store"  # EC2 refuses StopInstances for it (UnsupportedOperation)
    reason = ce._cannot_apply(Ctx(), STOP_START, "i-1")  # type: ignore[arg-type]
    assert reason is not None and "instance store" in reason


def test_stop_start_cannot_apply_to_a_spot_instance(asg: dict[str, Any]) -> None:
    asg["lifecycle"] = "spot"  # one-time: StopInstances refused; persistent: starts only when capacity allows
    reason = ce._cannot_apply(Ctx(), STOP_START, "i-1")  # type: ignore[arg-type]
    assert reason is not None and "Spot Instance" in reason


def test_stop_start_is_never_judged_applicable_when_ec2_cannot_say(asg: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from steps.core.exceptions import AwsCallFailed

    def failing(instance_id: str) -> tuple[str | None, str | None]:
        raise AwsCallFailed(f"DescribeInstances {instance_id}: AccessDenied")

    monkeypatch.setattr(ce.ec2, "stop_facts", failing)
    with pytest.raises(AwsCallFailed):  # fails the step (the restore path puts it back), never "applicable"
        ce._cannot_apply(Ctx(), STOP_START, "i-1")  # type: ignore[arg-type]


def test_replace_without_auto_scaling_cannot_apply(asg: dict[str, Any]) -> None:
    assert ce._cannot_apply(Ctx(), REPLACE, "i-1") == NOT_IN_ASG  # type: ignore[arg-type]
    assert asg["asked"] == [("membership", "i-1")]
    disabled = Ctx(auto_scaling={"enabled": False})
    asg["member"] = Membership("asg-web", "InService", "Healthy")
    asg["asked"].clear()
    assert ce._cannot_apply(disabled, REPLACE, "i-1") == NOT_IN_ASG  # type: ignore[arg-type]
    assert asg["asked"] == []  # disabled: not even looked up


def test_replace_needs_the_asg_attached_to_every_target_group(asg: dict[str, Any]) -> None:
    asg["member"] = Membership("asg-web", "InService", "Healthy")
    ctx = Ctx(target_group_arns=[TG3, TG1, TG2])
    assert ce._cannot_apply(ctx, REPLACE, "i-1") == (  # type: ignore[arg-type]
        f"Auto Scaling group asg-web is not attached to {TG3}, {TG2}, {TG1}: "  # sorted: web-api, web-http, web-https
        "a replacement would not join every target group")
    asg["attached"] = (TG1, TG3)
    assert ce._cannot_apply(ctx, REPLACE, "i-1") == (  # type: ignore[arg-type]
        f"Auto Scaling group asg-web is not attached to {TG2}: a replacement would not join every target group")
    asg["attached"] = (TG2, TG1, TG3, "arn:other")  # more than ours is fine
    assert ce._cannot_apply(ctx, REPLACE, "i-1") is None  # type: ignore[arg-type]
    assert ("group_size", "asg-web") in asg["asked"]


# --- did AWS accept an earlier execution's rung? --------------------------------------------------------------

@pytest.mark.parametrize(("rung", "facts", "member", "accepted"), [
    ("replace", {}, None, False),
    ("replace", {"replace": {}}, None, False),
    ("replace", {"replace": {"marked_sent_at": 10}}, None, True),  # SetInstanceHealth answered
    # asked for, answer lost: the ASG's view decides
    ("replace", {"replace": {"mark_intended_at": 10}}, Membership("asg-web", "InService", "Healthy"), False),
    ("replace", {"replace": {"mark_intended_at": 10}}, Membership("asg-web", "InService", "Unhealthy"), True),
    ("replace", {"replace": {"mark_intended_at": 10}}, None, True),  # gone from the ASG: terminated
    ("stop_start", {}, None, False),
    ("stop_start", {"stop_start": None}, None, False),
    ("stop_start", {"stop_start": {}}, None, False),
    ("stop_start", {"stop_start": {"stop_intended_at": 10}}, None, True),  # conservative: may have stopped it
    ("stop_start", {"stop_start": {"stop_sent_at": 10}}, None, True),
    ("stop_start", {"stop_start": {"stop_intended_at": None, "stop_sent_at": 0}}, None, False),
    ("leave_out", {"leave_out": {"left_out_at": 10}, "stop_start": {"stop_sent_at": 10}}, None, False),
])
def test_accepted(asg: dict[str, Any], rung: str, facts: dict[str, Any], member: Membership | None,
                  accepted: bool) -> None:
    asg["member"] = member
    assert ce._accepted(rung, facts, "i-1") is accepted
    # only an intended, unanswered SetInstanceHealth asks the ASG, about this very instance
    intended = rung == "replace" and "mark_intended_at" in (facts.get("replace") or {})
    assert asg["asked"] == ([("membership", "i-1")] if intended else [])


# --- which rungs of the record still count as tried ------------------------------------------------------------

RETRIED = ("ESCALATION_RUNG_RETRIED", "rung stop_start chosen by " + EARLIER + " is offered again for i-1: "
           "AWS accepted none of its calls", {"instance_id": "i-1", "rung": "stop_start", "chosen_by": EARLIER})


@pytest.mark.parametrize(("ladder", "facts", "tried", "audits"), [
    ({}, {}, [], []),  # untried: a first escalation
    ({"tried": [], "chosen_by": None}, {}, [], []),
    # skipped rungs (chosen by nobody) stay tried: they still cannot apply
    ({"tried": ["replace"]}, {}, ["replace"], []),
    ({"tried": ["replace"], "chosen_by": {"stop_start": EARLIER}}, {}, ["replace"], []),
    # chosen by this very execution: tried
    ({"tried": ["stop_start", "replace"], "chosen_by": {"stop_start": ME, "replace": ME}}, {},
     ["stop_start", "replace"], []),
    # chosen by an earlier execution whose stop AWS accepted: tried
    ({"tried": ["stop_start"], "chosen_by": {"stop_start": EARLIER}}, {"stop_start": {"stop_sent_at": 10}},
     ["stop_start"], []),
    # ... whose calls AWS all refused: offered again, and audited
    ({"tried": ["stop_start"], "chosen_by": {"stop_start": EARLIER}}, {}, [], [RETRIED]),
    ({"tried": ["replace", "stop_start", "leave_out"], "chosen_by": {"stop_start": EARLIER, "leave_out": EARLIER}},
     {"stop_start": {}}, ["replace"], [RETRIED, (
         "ESCALATION_RUNG_RETRIED", "rung leave_out chosen by " + EARLIER + " is offered again for i-1: AWS "
         "accepted none of its calls", {"instance_id": "i-1", "rung": "leave_out", "chosen_by": EARLIER})]),
])
def test_still_tried(asg: dict[str, Any], ladder: dict[str, Any], facts: dict[str, Any], tried: list[str],
                     audits: list[tuple[str, str, dict[str, Any]]]) -> None:
    ctx = Ctx()
    assert ce._still_tried(ctx, ladder, facts, "i-1") == tried  # type: ignore[arg-type]
    assert ctx.audits == audits


def test_an_earlier_replace_counts_as_tried_when_its_asg_shows_the_mark(asg: dict[str, Any]) -> None:
    ladder = {"tried": ["replace"], "chosen_by": {"replace": EARLIER}}
    facts = {"replace": {"mark_intended_at": 10}}
    asg["member"] = Membership("asg-web", "InService", "Unhealthy")
    assert ce._still_tried(Ctx(), ladder, facts, "i-1") == ["replace"]  # type: ignore[arg-type]
    assert asg["asked"] == [("membership", "i-1")]
    asg["member"] = Membership("asg-web", "InService", "Healthy")  # the mark never landed: offered again
    assert ce._still_tried(Ctx(), ladder, facts, "i-1") == []  # type: ignore[arg-type]


# --- the lease a rung needs ---------------------------------------------------------------------------------

@pytest.fixture
def acquired(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The renewals asked for: (slot key, owner, now, lease); only ME holds the slot."""
    calls: list[tuple[Any, ...]] = []

    def renew(key: str, owner: str, now: float, lease_seconds: float) -> lock.Renewal:
        calls.append((key, owner, now, lease_seconds))
        if owner == ME:
            return lock.Renewal(True, expires_at=now + lease_seconds)
        return lock.Renewal(False, holder=ME)

    monkeypatch.setattr(lock, "renew", renew)
    return calls


def test_the_lease_covers_the_rung_then_a_boot_and_a_health_check(acquired: list[tuple[Any, ...]]) -> None:
    # defaults: lease 7200 s; boot deadline 900 s, health deadline 600 s, 900 s margin
    ce._extend_lease(Ctx(), REPLACE)  # type: ignore[arg-type]
    assert acquired == [("web", ME, 5000.0, 7200)]  # 1200 + 900 + 600 + 900 = 3600 < 7200
    acquired.clear()
    ce._extend_lease(Ctx(), RungSpec(action="replace", deadline_seconds=6000))  # type: ignore[arg-type]
    assert acquired[0][3] == 6000 + 900 + 600 + 900
    acquired.clear()
    long_rung = RungSpec(action="replace", deadline_seconds=7200)
    short_checks = {"boot": {"deadline_seconds": 300}, "health": {"deadline_seconds": 100}}
    ce._extend_lease(Ctx(lock_lease_seconds=9000, **short_checks), long_rung)  # type: ignore[arg-type]
    assert acquired[0][3] == 9000  # 7200 + 300 + 100 + 900 = 8500 < 9000
    acquired.clear()
    ce._extend_lease(Ctx(lock_lease_seconds=6024, **short_checks), long_rung)  # type: ignore[arg-type]
    assert acquired[0][3] == 8500


def test_a_lease_held_by_another_is_lost(acquired: list[tuple[Any, ...]]) -> None:
    ctx = Ctx()
    ctx.execution_id = EARLIER
    with pytest.raises(LockLost) as lost:
        ce._extend_lease(ctx, STOP_START)  # type: ignore[arg-type]
    assert str(lost.value) == f"the lock of web is held by {ME}, not this execution"
