"""The CLI speaks to people (issue 14, item 7): each mistake is one line saying what is wrong and what to do,
a non-zero exit, never a traceback — and nothing changes."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nightshift.cli import main
from steps.store import pause

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[2]
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nightshift-remediate"


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def bare_cli(*args: str, region: str | None) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process with no credentials anywhere (and optionally no region): nothing can reach
    AWS, so this is what a person on a new laptop sees."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
           "NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN": MACHINE}
    if region:
        env["AWS_DEFAULT_REGION"] = region
    return subprocess.run([sys.executable, "-m", "nightshift.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("args", [("audit", "--group", "web"), ("resume", "web"), ("status",)])
def test_without_credentials_the_cli_says_how_to_configure_them(args: tuple[str, ...]) -> None:
    done = bare_cli(*args, region="us-east-1")
    assert done.returncode == 2
    assert "no AWS credentials" in one_line(done.stderr) and "aws configure" in done.stderr


@pytest.mark.parametrize("args", [("pause", "web"), ("audit", "--group", "web"), ("status",)])
def test_without_a_region_the_cli_says_how_to_set_one(args: tuple[str, ...]) -> None:
    # PynamoDB (pause, audit) falls back to us-east-1 instead of failing: the CLI must refuse first.
    done = bare_cli(*args, region=None)
    assert done.returncode == 2
    assert "no AWS region: set AWS_DEFAULT_REGION" in one_line(done.stderr)


@pytest.mark.parametrize(("args", "message"), [
    (("status", "--since", "99999999d"), "use at most 400d"),
    (("audit", "--group", "web", "--since", "99999999d"), "use at most 400d"),
    (("replay", "--failed", "--since", "99999999d"), "use at most 400d"),
    (("replay", "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate"), "is not an execution ARN"),
    (("show", "arn:aws:states:us-east-1:nope"), "is not an execution ARN"),
    (("status", "--state-machine-arn", "arn:aws:states:us-east-1:123456789012:nightshift"),
     "is not a state machine ARN"),
    (("start", "--group", "web", "--no-wait", "--state-machine-arn", "nightshift-remediate"),
     "is not a state machine ARN"),
])
def test_operator_mistakes_are_one_line_and_say_what_to_do(harness: Any, args: tuple[str, ...], message: str,
                                                           ) -> None:
    h = harness()
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert message in one_line(err)
    assert h.rt.client("stepfunctions").list_executions(
        stateMachineArn=h.rt.state_machines["remediate"])["executions"] == []


def test_replay_of_an_unknown_execution_says_so(harness: Any) -> None:
    harness()
    code, out, err = cli("replay", "no-such-execution")
    assert code == 1 and "Traceback" not in err
    assert "no such execution" in one_line(out) and "nightshift status" in out


def test_replay_of_a_sweep_execution_is_refused(harness: Any) -> None:
    h = harness()
    sfn = h.rt.client("stepfunctions")

    def crash(name: str, *_: Any) -> None:
        if name == "nightshift-list-groups":
            raise RuntimeError("crashed")

    h.rt.router.before.append(crash)
    sweep = h.rt.start({}, machine="sweep")
    assert h.rt.wait(sweep)["status"] == "FAILED"  # replayable, were it a remediation
    code, out, _ = cli("replay", sweep)
    assert code == 1 and "not a remediation" in one_line(out)
    for machine in ("remediate", "sweep"):
        started = sfn.list_executions(stateMachineArn=h.rt.state_machines[machine])["executions"]
        assert [e["executionArn"] for e in started if e["executionArn"] != sweep] == []


def test_pause_of_an_undeclared_group_is_refused_naming_the_groups(harness: Any) -> None:
    harness()
    code, _, err = cli("pause", "wbe", "--reason", "typo")
    assert code == 2 and "unknown group 'wbe'; declared groups are: web" in one_line(err)
    assert pause.paused("wbe") is None
    code, _, err = cli("pause", "web", "--reason", "maintenance")
    assert code == 0 and pause.paused("web") is not None


@pytest.mark.parametrize(("args", "message"), [
    (("--size", "4"), "--size 4 is below the minimum of 6"),
    (("--size", "0"), "--size 0 is below the minimum of 6"),
    (("--delay", "-1"), "--delay -1: a deregistration delay is 0-3600 seconds"),
    (("--delay", "3601"), "--delay 3601: a deregistration delay is 0-3600 seconds"),
])
def test_demo_options_out_of_range_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = cli("demo", "--logs", str(tmp_path / "logs.jsonl"), *args)
    assert code == 2 and out == ""
    assert message in one_line(err)
    assert not (tmp_path / "logs.jsonl").exists()  # refused before anything ran


def test_the_smallest_demo_fleet_heals(tmp_path: Path) -> None:
    code, out, err = cli("demo", "--json", "--size", "6", "--logs", str(tmp_path / "logs.jsonl"),
                         "--timeline", str(tmp_path / "t.svg"))
    assert code == 0, err
    assert '"status": "SUCCEEDED"' in out
