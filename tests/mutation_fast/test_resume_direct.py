"""The replay's resume step (steps/remediate/resume_remediation.py) called directly on moto and the fleet simulator:
what it puts back, whether it ever lets a second reboot happen, what it records and what it says is next."""

from __future__ import annotations

from typing import Any

import pytest

from steps.remediate import resume_remediation
from steps.store import audit, claim, lifecycle
from steps.store.lifecycle import RemediationRecord
from tests.harness import DIRECT_EXECUTION, Direct, invoke

REPLAY = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:direct-1-replay-1"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:other-group-run"
REBOOT = {"instance_id": "i-0", "requested_at": 1.0}
LEASE = 7200  # the group's default lock_lease_seconds


def resume() -> dict[str, Any]:
    request = {"group": "web", "trigger": "replay", "remediation_id": "direct-1", "replay_of": DIRECT_EXECUTION}
    return dict(invoke(resume_remediation.handler, {"execution_id": REPLAY, "state": {"request": request}}))


def trail() -> list[dict[str, Any]]:
    return [audit.as_dict(r) for r in audit.for_group("web")]


def history(remediation_id: str = "direct-1") -> list[tuple[str, str, str]]:
    return [(h["from"], h["to"], h["execution"]) for h in lifecycle.load(remediation_id).history]


@pytest.mark.parametrize("state", ["healthy", "nothing_to_do", "no_metric_data", "planned", "replaced",
                                   "left_out"])
def test_an_ended_remediation_has_nothing_to_replay(direct: Direct, state: str) -> None:
    direct.take_out(state=state, deregister=False)
    mark = direct.mark()
    out = resume()
    assert out["resume"] == {"next": "done", "state": state}
    assert out["request"]["remediation_id"] == "direct-1"
    assert direct.changes_since(mark) == []
    assert lifecycle.load("direct-1").state == state
    [ended] = trail()
    assert ended["event"] == "REPLAY_NOT_NEEDED" and ended["execution_id"] == REPLAY
    assert ended["reason"] == f"remediation direct-1 already ended {state}; nothing to replay"
    assert ended["details"]["lifecycle_state"] == state


def test_a_run_that_died_mid_drain_is_put_back_then_started_over_on_the_same_instance(direct: Direct) -> None:
    direct.take_out()
    mark = direct.mark()
    out = resume()
    assert direct.in_service()
    assert direct.changes_since(mark) == direct.register_requests()
    assert out["resume"] == {"next": "select", "put_back": direct.tgs, "instance_id": direct.instance}
    record = lifecycle.load("direct-1")
    assert record.state == "requested"
    assert history()[-2:] == [("draining", "restored", REPLAY), ("restored", "requested", REPLAY)]
    assert record.facts["restore"] == {"error": "replayed", "target_groups": direct.tgs, "standby": "not_needed",
                                       "being_replaced": False}
    assert record.facts["reopen"] == {"replay_of": DIRECT_EXECUTION}
    restored, resumed = trail()
    assert restored["event"] == "RESTORED" and restored["instance_id"] == direct.instance
    assert restored["reason"] == (f"replay put {direct.instance} back in 2 target group(s) the failed run left "
                                  "it out of")
    assert restored["details"] == {"replay_of": DIRECT_EXECUTION, "target_groups": direct.tgs,
                                   "standby": "not_needed", "being_replaced": False}
    assert resumed["event"] == "REPLAY_RESUMED" and resumed["instance_id"] == direct.instance
    assert resumed["reason"] == f"replaying remediation direct-1 from the start on the same instance {direct.instance}"
    assert resumed["details"] == {"put_back": direct.tgs}
    assert claim.holder(direct.instance) is None  # the selection claims it, not the resume


def test_a_run_that_died_in_standby_is_taken_out_of_it_and_says_so(direct_asg: Direct) -> None:
    direct_asg.take_out(standby=direct_asg.enter_standby())
    direct_asg.rt.clock.advance(400)  # past the deregistration delay: in Standby
    mark = direct_asg.mark()
    resume()
    assert [op for op, _ in direct_asg.changes_since(mark)] == ["ExitStandby", "RegisterTargets", "RegisterTargets"]
    assert [e["event"] for e in trail()] == ["RESTORED", "STANDBY_EXITED", "REPLAY_RESUMED"]
    assert trail()[1]["reason"] == f"{direct_asg.instance} left Auto Scaling Standby"
    assert trail()[1]["execution_id"] == REPLAY


def test_a_verifying_run_is_put_back_too(direct: Direct) -> None:
    direct.take_out(state="verifying")
    out = resume()
    assert out["resume"]["put_back"] == direct.tgs and out["resume"]["next"] == "select"
    assert [e["event"] for e in trail()] == ["RESTORED", "REPLAY_RESUMED"]


def test_a_run_that_asked_for_a_reboot_is_only_verified_never_rebooted(direct: Direct) -> None:
    direct.take_out(state="booting", reboot=REBOOT)
    mark = direct.mark()
    out = resume()
    changes = direct.changes_since(mark)
    assert [op for op, _ in changes] == ["RegisterTargets", "RegisterTargets"]  # no RebootInstances
    assert out["resume"] == {"next": "verify", "put_back": direct.tgs}
    assert out["deregistration"]["instance_id"] == direct.instance
    assert out["deregistration"]["target_groups"] == [{"arn": direct.tgs[0], "port": 443},
                                                      {"arn": direct.tgs[1], "port": 8080}]
    assert out["registration"] == {"at": direct.now()}
    assert out["selection"] == {"action": "remediate", "instance_id": direct.instance,
                                "reason": "replay verifying the instance this remediation rebooted"}
    assert history()[-2:] == [("booting", "restored", REPLAY), ("restored", "verifying", REPLAY)]
    assert lifecycle.load("direct-1").facts["reverify"] == {"replay_of": DIRECT_EXECUTION}
    held = claim.holder(direct.instance)
    assert held is not None and held.owner == REPLAY and held.claimed_for == "web"
    assert held.remediation_id == "direct-1" and held.expires_at == direct.now() + LEASE
    verify = trail()[-1]
    assert verify["event"] == "REPLAY_VERIFY" and verify["instance_id"] == direct.instance
    assert verify["reason"] == (f"{direct.instance} was already asked to reboot in this remediation: never "
                                "again; verifying its health only")
    assert verify["details"] == {"reboot": REBOOT, "put_back": direct.tgs}


def test_a_restored_run_that_asked_for_a_reboot_is_verified_without_putting_back(direct: Direct) -> None:
    direct.take_out(state="restored", reboot=REBOOT, deregister=False)  # its restore already put it back
    mark = direct.mark()
    out = resume()
    assert direct.changes_since(mark) == []
    assert out["resume"] == {"next": "verify", "put_back": []}
    assert [e["event"] for e in trail()] == ["REPLAY_VERIFY"]


def test_an_instance_claimed_by_another_live_remediation_is_not_verified(direct: Direct,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    direct.take_out(state="restored", reboot=REBOOT)
    assert claim.acquire(direct.instance, OTHER, "api", "api-1", direct.now(), LEASE, lambda _: "GONE").claimed
    monkeypatch.setattr(resume_remediation, "execution_status", lambda arn: "RUNNING" if arn == OTHER else "GONE")
    out = resume()
    assert out["resume"] == {"next": "claimed", "put_back": []}
    assert "selection" not in out and "deregistration" not in out
    assert lifecycle.load("direct-1").state == "restored"
    held = claim.holder(direct.instance)
    assert held is not None and held.owner == OTHER
    [skipped] = trail()
    assert skipped["event"] == "SKIPPED_CLAIMED" and skipped["instance_id"] == direct.instance
    assert skipped["reason"] == (f"{direct.instance} is claimed by another remediation ({OTHER}, group api): not "
                                 "verified now; replay again once it ends")
    assert skipped["details"] == {"holder": OTHER, "holder_group": "api"}


def test_a_refused_reboot_starts_over(direct: Direct) -> None:
    direct.take_out(state="restored", reboot={"refused": True, "reason": "SKIPPED_REBOOT_LIMIT"})
    out = resume()
    assert out["resume"] == {"next": "select", "put_back": [], "instance_id": direct.instance}
    assert history()[-1] == ("restored", "requested", REPLAY)


@pytest.mark.parametrize("state", ["failed", "skipped"])
def test_a_failed_or_skipped_run_is_reopened(direct: Direct, state: str) -> None:
    direct.take_out(state=state, deregister=False)
    mark = direct.mark()
    out = resume()
    assert direct.changes_since(mark) == []
    assert out["resume"] == {"next": "select", "put_back": [], "instance_id": direct.instance}
    assert history()[-1] == (state, "requested", REPLAY)


def test_a_run_that_died_before_selecting_starts_over_from_requested(direct: Direct) -> None:
    lifecycle.open_record("direct-1", "web", "manual", DIRECT_EXECUTION, direct.now())
    out = resume()
    assert out["resume"] == {"next": "select", "put_back": [], "instance_id": None}
    assert lifecycle.load("direct-1").state == "requested" and history() == []
    [resumed] = trail()
    assert resumed["reason"] == "replaying remediation direct-1 from the start"
    assert resumed["instance_id"] is None


@pytest.mark.parametrize(("reboot", "may_have"), [
    (None, False), ("sent", False), ({}, True), ({"requested_at": 1.0}, True), ({"refused": False}, True),
    ({"refused": True}, False),
])
def test_reboot_may_have_happened(reboot: Any, may_have: bool) -> None:
    facts = {} if reboot is None else {"reboot": reboot}
    record = RemediationRecord("r", group="web", state="restored", facts=facts)
    assert resume_remediation.reboot_may_have_happened(record) is may_have
