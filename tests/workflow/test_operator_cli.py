"""`nightshift start|replay|status|audit` against the local runtime (boto3 reaches moto)."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from nightshift.cli import main

pytestmark = pytest.mark.workflow


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_start_follows_the_execution_to_success(harness: Any) -> None:
    h = harness()
    code, out, _ = cli("start", "--group", "web", "--reason", "cli test", "--poll", "0.01")
    assert code == 0, out
    assert out.splitlines()[0].startswith("started arn:aws:states:")
    assert "Reboot the instance" in out and out.rstrip().endswith("SUCCEEDED (remediated)")
    assert "drain:" in out and "health:" in out  # what each wait is waiting for
    assert len(h.sim.reboots(h.leaker)) == 1


def test_start_dry_run_changes_nothing(harness: Any) -> None:
    h = harness()
    code, out, _ = cli("start", "--group", "web", "--dry-run", "--poll", "0.01")
    assert code == 0 and out.rstrip().endswith("SUCCEEDED (dry_run)")
    assert not h.sim.reboot_requests(h.leaker)
    assert "DRY_RUN" in h.audit_events()


def test_start_with_a_bad_instance_fails_in_validation(harness: Any) -> None:
    harness()
    code, out, _ = cli("start", "--group", "web", "--instance", "i-nothex", "--poll", "0.01")
    assert code == 1 and "InvalidRequest" in out and "instance_id" in out


def test_audit_and_status_report_what_happened(harness: Any) -> None:
    h = harness()
    h.run()
    code, out, _ = cli("audit", "--group", "web", "--json")
    records = json.loads(out)
    assert code == 0 and [r["event"] for r in records][-1] == "HEALTHY"
    code, out, _ = cli("audit", "--instance", h.leaker)
    assert code == 0 and "REBOOTED" in out and "LOCK_ACQUIRED" not in out  # per instance: its own events
    code, out, _ = cli("status", "--json")
    report = json.loads(out)
    assert code == 0 and report["running"] == [] and report["locks"] == []


def test_replay_failed_since_replays_each_failed_remediation_once(harness: Any) -> None:
    h = harness()
    fired: list[str] = []

    def crash(name: str, *_: Any) -> None:
        if name == "nightshift-check-boot" and not fired:
            fired.append(name)
            raise RuntimeError("crashed")

    h.rt.router.before.append(crash)
    assert h.run()["status"] == "FAILED"
    code, out, _ = cli("replay", "--failed", "--since", "1h", "--group", "web")
    assert code == 0 and "-> new:" in out
    replay_arn = out.split("-> new: ")[1].split(" ")[0]
    assert h.rt.wait(replay_arn)["status"] == "SUCCEEDED"
    assert len(h.sim.reboots(h.leaker)) == 1
    code, out, _ = cli("replay", "--failed", "--since", "1h", "--group", "web")
    assert "-> already" in out  # the original is already replayed: nothing new starts


@pytest.mark.parametrize(("args", "message"), [
    (("replay", "--failed", "--since", "soon"), "--since 'soon': use a number and a unit"),
    (("replay",), "name an execution"),
])
def test_operator_errors_are_explained(harness: Any, args: tuple[str, ...], message: str) -> None:
    harness()
    code, _, err = cli(*args)
    assert code == 2 and message in err


def test_without_a_state_machine_the_cli_says_how_to_name_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN", raising=False)
    code, _, err = cli("status")
    assert code == 2 and "--state-machine-arn or --stack" in err


def test_show_draws_an_execution_from_aws_data(harness: Any, tmp_path: Any) -> None:
    h = harness()
    arn = h.run()["executionArn"]
    code, out, _ = cli("show", arn, "--out", str(tmp_path / "run.svg"))
    svg = (tmp_path / "run.svg").read_text()
    assert code == 0 and "wrote" in out
    assert 'data-source="audit"' in svg and 'data-state="draining"' in svg and 'data-state="healthy"' in svg


def test_show_of_an_unknown_execution_is_explained(harness: Any) -> None:
    harness()
    code, _, err = cli("show", "no-such-execution")
    assert code == 2 and "no-such-execution" in err


def test_status_lists_only_leases_not_the_other_items_of_the_lock_table(harness: Any) -> None:
    # A group whose metric nobody publishes writes a daily notice; a pause writes a flag: neither is a lock.
    h = harness(metric={"name": "mem_used"})
    assert json.loads(h.run()["output"])["outcome"]["status"] == "no_metric_data"
    cli("pause", "web", "--reason", "maintenance")
    code, out, err = cli("status", "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["locks"] == [] and [p["group"] for p in report["paused"]] == ["web"]


def test_start_force_heals_the_named_instance_and_names_who_forced_it(harness: Any) -> None:
    h = harness()
    quiet = h.built.instance_ids[3]  # its memory is fine: only --force chooses it
    code, out, _ = cli("start", "--group", "web", "--instance", quiet, "--force", "--requested-by", "bob",
                       "--poll", "0.01")
    assert code == 0, out
    chosen = next(r for r in h.audit_records() if r["event"] == "SELECTED")
    assert chosen["instance_id"] == quiet and chosen["details"]["forced_by"] == "bob"
    assert len(h.sim.reboots(quiet)) == 1


def test_start_force_without_requested_by_is_refused_before_anything_starts(harness: Any) -> None:
    h = harness()
    quiet = h.built.instance_ids[3]
    code, _, err = cli("start", "--group", "web", "--instance", quiet, "--force", "--poll", "0.01")
    assert code != 0 and "--requested-by" in err
    assert h.rt.client("stepfunctions").list_executions(
        stateMachineArn=h.rt.state_machines["remediate"])["executions"] == []
    assert not h.sim.reboots(quiet) and h.sim.api_calls().get("elbv2.DeregisterTargets", 0) == 0


def test_start_force_without_an_instance_is_refused_before_anything_starts(harness: Any) -> None:
    h = harness()
    code, _, err = cli("start", "--group", "web", "--force", "--poll", "0.01")
    assert code != 0 and "--force" in err and "--instance" in err
    assert h.rt.client("stepfunctions").list_executions(
        stateMachineArn=h.rt.state_machines["remediate"])["executions"] == []
