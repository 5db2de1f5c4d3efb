"""Mutation testing of the state machine definitions (`make mutation`, docs/mutation.md).

mutmut mutates the Python steps; the ASL is safety code too, and no Python mutation tool reads it. Each
mutant below is one deliberate fault in ``statemachine/remediate.asl.json`` or ``sweep.asl.json`` — a Catch
removed, a condition dropped from the lock release, a Choice rule inverted or dropped, a Retry's
``ErrorEquals`` narrowed, a Wait shortened or skipped — with the tests that should notice it. For each
mutant the mutated definitions are written to a temporary directory, ``NIGHTSHIFT_ASL_DIR`` points the
local runtime at it (nightshift/runtime/runner.py), and the tests run; any failing test kills the mutant.

    python -m nightshift.mutate_asl [--baseline] [--only NAME ...] [--json PATH]

``--baseline`` first runs every chosen test against the unmutated definitions (they must pass, or a
"kill" means nothing). Every mutant is checked to change the definition and to keep it loadable (each
``Next``/``Default`` names a state), so a kill is never a definition moto refuses.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATEMACHINE_DIR = ROOT / "statemachine"
MACHINES = ("remediate", "sweep")
TIMEOUT_SECONDS = 600  # per mutant; a mutant that loops forever is counted killed by timeout

Definition = dict[str, Any]
Mutation = Callable[[Definition], None]

# The tests that state each rule (node ids; several per mutant are fine, any failure kills it).
HAPPY = "tests/workflow/test_remediate.py::test_happy_path_heals_the_leaking_instance_once_and_releases_the_lock"
REBOOT_FAILS = ("tests/workflow/test_remediate.py::"
                "test_reboot_failure_puts_the_instance_back_releases_the_lock_and_says_why")
WHOLE_DELAY = "tests/workflow/test_remediate.py::test_target_state_signal_waits_the_whole_delay"
SSM_DRAIN = "tests/workflow/test_remediate.py::test_ssm_ends_the_drain_when_in_flight_work_ends"
POLL_PACE = "tests/workflow/test_asl_guards.py::test_the_poll_loops_wait_what_the_check_asks_not_less"
MIN_SIX = "tests/workflow/test_safety.py::test_six_healthy_with_min_six_is_never_touched"
DRY_RUN = "tests/workflow/test_safety.py::test_demo_dry_run_changes_nothing_in_aws[plain]"
ESCALATES = "tests/workflow/test_escalation.py::test_a_reboot_that_does_not_heal_escalates_to_stop_start_which_does"
MAX_REBOOTS = "tests/workflow/test_escalation.py::test_after_max_reboots_a_day_it_escalates_instead_of_rebooting"
RESTORE_FAILS = "tests/workflow/test_asl_guards.py::test_a_restore_that_keeps_failing_still_releases_the_lock_and_fails"
LOCK_TAKEN = "tests/workflow/test_asl_guards.py::test_the_release_deletes_only_our_own_lock"
THROTTLED_RESTORE = "tests/workflow/test_asl_guards.py::test_a_throttled_restore_is_retried"
CRASHED_RESTORE = "tests/workflow/test_asl_guards.py::test_a_restore_that_crashes_once_is_retried"
RECONCILER_RAISES = ("tests/workflow/test_reconcile_bounded.py::"
                     "test_a_reconciler_that_raises_shows_as_failed_in_the_sweep_summary_and_the_audit")
SWEEP_CHILD_FAILS = "tests/workflow/test_asl_guards.py::test_a_failing_group_does_not_fail_the_sweep"
REBOOT_NOT_QUEUED = ("tests/workflow/test_reboot_ambiguity.py::"
                     "test_died_after_the_write_ahead_before_the_call_the_boot_time_proves_no_reboot_and_it_is_sent_once")


def retried(task: str, service: str, operation: str, kind: str) -> str:
    """One fault the Task's Retry must absorb: the same execution succeeds (tests/workflow/test_asl_guards.py).
    The fault matrix's case of the same fault passes without the Retry too (the Catch and the replay heal it)."""
    return ("tests/workflow/test_asl_guards.py::test_one_throttled_or_crashed_call_is_retried_by_the_same_execution"
            f"[nightshift-{task}-{service}-{operation}-{kind}]")


def fault(task: str, call: str, kind: str) -> str:
    """A case of the fault matrix (tests/faults/matrix.py ``Case.id``): ``kind`` at ``call`` of ``task``'s step.
    ``server-error`` is an outage for as long as the Task is retried (it lands in the Catch); ``crash-after``
    kills the Lambda runtime after the call took effect (``Lambda.Unknown``)."""
    return f"tests/faults/test_fault_matrix.py::test_fault[{task}:{call}:{kind}]"


@dataclass(frozen=True)
class Mutant:
    name: str
    machine: str
    what: str
    mutate: Mutation
    tests: tuple[str, ...]


def _state(definition: Definition, name: str) -> dict[str, Any]:
    """A state by name, top level or inside a Map/Parallel."""
    found = _find(definition["States"], name)
    if found is None:
        raise KeyError(f"no state {name!r}")
    return found


def _find(states: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name in states:
        state: dict[str, Any] = states[name]
        return state
    for state in states.values():
        inner = [b["States"] for b in state.get("Branches", [])]
        inner += [state[k]["States"] for k in ("ItemProcessor", "Iterator") if k in state]
        for sub in inner:
            hit = _find(sub, name)
            if hit is not None:
                return hit
    return None


def remove_catch(state: str, error: str | None = None) -> Mutation:
    """Drop the state's Catch (or only the catcher whose ErrorEquals holds ``error``)."""
    def mutate(d: Definition) -> None:
        s = _state(d, state)
        if error is None:
            del s["Catch"]
        else:
            s["Catch"] = [c for c in s["Catch"] if error not in c["ErrorEquals"]]
            if not s["Catch"]:
                del s["Catch"]
    return mutate


def narrow_retry(state: str, error: str) -> Mutation:
    """Remove ``error`` from every Retry's ErrorEquals (dropping a retrier left with none)."""
    def mutate(d: Definition) -> None:
        s = _state(d, state)
        retriers = []
        for r in s["Retry"]:
            kept = [e for e in r["ErrorEquals"] if e != error]
            if kept:
                retriers.append({**r, "ErrorEquals": kept})
        s["Retry"] = retriers
    return mutate


def invert_choice(state: str, index: int) -> Mutation:
    """Negate one Choice rule (``Not`` around it)."""
    def mutate(d: Definition) -> None:
        rule = _state(d, state)["Choices"][index]
        target = rule.pop("Next")
        rule_copy = dict(rule)
        rule.clear()
        rule.update({"Not": rule_copy, "Next": target})
    return mutate


def drop_choice(state: str, index: int) -> Mutation:
    def mutate(d: Definition) -> None:
        del _state(d, state)["Choices"][index]
    return mutate


def set_next(state: str, target: str, key: str = "Next") -> Mutation:
    def mutate(d: Definition) -> None:
        _state(d, state)[key] = target
    return mutate


def fixed_wait(state: str, seconds: int) -> Mutation:
    def mutate(d: Definition) -> None:
        s = _state(d, state)
        for key in [k for k in s if k.startswith("Seconds") or k.startswith("Timestamp")]:
            del s[key]
        s["Seconds"] = seconds
    return mutate


def drop_release_condition(d: Definition) -> None:
    params = _state(d, "Release the group lock")["Parameters"]
    for key in ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"):
        params.pop(key)


THROTTLED = "AwsThrottled"
ALL = "States.ALL"
PUT_BACK = "Put the instance back in service"
RELEASE = "Release the group lock"

MUTANTS: tuple[Mutant, ...] = (
    # --- a Catch removed: a failure must still put the instance back and release the lock
    Mutant("catch-removed/deregister", "remediate", "Deregister from every target group: no Catch",
           remove_catch("Deregister from every target group"),
           (fault("deregister-instance", "elastic-load-balancing-v2.DeregisterTargets", "server-error"),)),
    Mutant("catch-removed/check-drain", "remediate", "Check whether the drain is over: no Catch",
           remove_catch("Check whether the drain is over"),
           (fault("check-drain", "elastic-load-balancing-v2.DescribeTargetHealth", "server-error"),)),
    Mutant("catch-removed/reboot", "remediate", "Reboot the instance: no Catch",
           remove_catch("Reboot the instance"), (REBOOT_FAILS,)),
    Mutant("catch-removed/check-boot", "remediate", "Check whether the instance rebooted: no States.ALL catcher",
           remove_catch("Check whether the instance rebooted", ALL),
           (fault("check-boot", "ec2.DescribeInstanceStatus", "server-error"),)),
    Mutant("catch-removed/register", "remediate", "Register in every target group: no Catch",
           remove_catch("Register in every target group"),
           (fault("register-instance", "elastic-load-balancing-v2.RegisterTargets", "server-error"),)),
    Mutant("catch-removed/health-to-ladder", "remediate", "Check target health: HealthNotRestored no longer escalates",
           remove_catch("Check target health", "HealthNotRestored"), (ESCALATES,)),
    Mutant("catch-removed/restore", "remediate", "Put the instance back in service: no Catch (to Restore failed)",
           remove_catch(PUT_BACK), (RESTORE_FAILS,)),
    Mutant("catch-removed/release", "remediate", "Release the group lock: lock already gone is no longer absorbed",
           remove_catch(RELEASE), (LOCK_TAKEN,)),
    Mutant("catch-removed/sweep-reconcile", "sweep", "Put back what failed runs left out: no Catch",
           remove_catch("Put back what failed runs left out"), (RECONCILER_RAISES,)),
    Mutant("catch-removed/sweep-child", "sweep", "Remediate the group (Map): no Catch",
           remove_catch("Remediate the group"), (SWEEP_CHILD_FAILS,)),
    # --- the lock release path
    Mutant("lock-release/condition-dropped", "remediate", "Release the group lock: delete without #owner = :me",
           drop_release_condition, (LOCK_TAKEN,)),
    Mutant("lock-release/restore-failed-skips-it", "remediate", "Restore failed goes straight to the announcement",
           set_next("Restore failed", "Announce the outcome"), (RESTORE_FAILS,)),
    Mutant("lock-release/succeeded-skips-it", "remediate", "Remediation succeeded goes straight to the announcement",
           set_next("Remediation succeeded", "Announce the outcome"), (HAPPY,)),
    # --- a Choice rule inverted or dropped
    Mutant("choice-inverted/lock-ours", "remediate", "Is the lock ours? inverted",
           invert_choice("Is the lock ours?", 0), (HAPPY,)),
    Mutant("choice-inverted/capacity-allowed", "remediate", "May it leave service? allowed = false inverted",
           invert_choice("May it leave service?", 1), (MIN_SIX,)),
    Mutant("choice-dropped/capacity-allowed", "remediate", "May it leave service? the guard's no is ignored",
           drop_choice("May it leave service?", 1), (MIN_SIX,)),
    Mutant("choice-dropped/dry-run", "remediate", "May it leave service? the dry run goes on",
           drop_choice("May it leave service?", 0), (DRY_RUN,)),
    Mutant("choice-inverted/drain-over", "remediate", "Is the drain over? inverted",
           invert_choice("Is the drain over?", 0), (WHOLE_DELAY,)),
    Mutant("choice-inverted/boot-done", "remediate", "Is it back up? inverted",
           invert_choice("Is it back up?", 0), (HAPPY,)),
    Mutant("choice-dropped/boot-resend", "remediate", "Is it back up? proof that no reboot was queued is ignored",
           drop_choice("Is it back up?", 1), (REBOOT_NOT_QUEUED,)),
    Mutant("choice-inverted/healthy", "remediate", "Is it healthy everywhere? inverted",
           invert_choice("Is it healthy everywhere?", 0), (HAPPY,)),
    Mutant("choice-inverted/escalate", "remediate", "Reboot, or escalate? inverted",
           invert_choice("Reboot, or escalate?", 0), (HAPPY, MAX_REBOOTS)),
    Mutant("choice-inverted/replay", "remediate", "Is this a replay? inverted",
           invert_choice("Is this a replay?", 0), (HAPPY,)),
    Mutant("choice-dropped/outcome-failed", "remediate", "How did it end? a failure ends in Done",
           drop_choice("How did it end?", 0), (REBOOT_FAILS,)),
    Mutant("choice-dropped/outcome-restore-failed", "remediate", "How did it end? a failed restore ends in Done",
           drop_choice("How did it end?", 1), (RESTORE_FAILS,)),
    # --- a Retry's ErrorEquals narrowed
    Mutant("retry-narrowed/reboot-throttled", "remediate", "Reboot the instance: AwsThrottled not retried",
           narrow_retry("Reboot the instance", THROTTLED),
           (retried("reboot-instance", "ec2", "RebootInstances", "throttling"),)),
    Mutant("retry-narrowed/deregister-throttled", "remediate", "Deregister: AwsThrottled not retried",
           narrow_retry("Deregister from every target group", THROTTLED),
           (retried("deregister-instance", "elastic-load-balancing-v2", "DeregisterTargets", "throttling"),)),
    Mutant("retry-narrowed/register-crash", "remediate", "Register: Lambda.Unknown (crash) not retried",
           narrow_retry("Register in every target group", "Lambda.Unknown"),
           (retried("register-instance", "elastic-load-balancing-v2", "RegisterTargets", "crash-after"),)),
    Mutant("retry-narrowed/lock-crash", "remediate", "Acquire the group lock: Lambda.Unknown (crash) not retried",
           narrow_retry("Acquire the group lock", "Lambda.Unknown"),
           (retried("acquire-group-lock", "dynamodb", "PutItem", "crash-after"),)),
    Mutant("retry-narrowed/restore", "remediate", "Put the instance back: only throttling retried (not States.ALL)",
           lambda d: _state(d, PUT_BACK)["Retry"][0].update({"ErrorEquals": [THROTTLED, "AwsUnavailable"]}),
           (CRASHED_RESTORE,)),
    Mutant("retry-removed/restore", "remediate", "Put the instance back: no Retry at all",
           lambda d: _state(d, PUT_BACK).pop("Retry"), (THROTTLED_RESTORE,)),
    # --- a Wait shortened or skipped
    Mutant("wait-skipped/drain", "remediate", "Wait for the drain goes straight to the reboot",
           set_next("Wait for the drain", "Reboot, or escalate?"), (WHOLE_DELAY,)),
    Mutant("wait-skipped/boot", "remediate", "Wait for the boot goes straight to registration",
           set_next("Wait for the boot", "Register in every target group"), (HAPPY,)),
    Mutant("wait-shortened/drain", "remediate", "Wait for the drain: 1 s instead of the step's wait_seconds",
           fixed_wait("Wait for the drain", 1), (POLL_PACE, WHOLE_DELAY, SSM_DRAIN)),
    Mutant("wait-shortened/boot", "remediate", "Wait for the boot: 1 s instead of the step's wait_seconds",
           fixed_wait("Wait for the boot", 1), (POLL_PACE, HAPPY)),
)


def _targets(states: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, state in states.items():
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c.get("Next") for c in state.get("Choices", []) + state.get("Catch", [])]
        out += [(name, n) for n in nexts if n]
        for sub in [b["States"] for b in state.get("Branches", [])] + [
                state[k]["States"] for k in ("ItemProcessor", "Iterator") if k in state]:
            inner = _targets(sub)
            missing = [(f, t) for f, t in inner if t not in sub]
            if missing:
                raise ValueError(f"mutant points at unknown states: {missing}")
    return out


def check_loadable(definition: Definition) -> None:
    missing = [(f, t) for f, t in _targets(definition["States"]) if t not in definition["States"]]
    if missing:
        raise ValueError(f"mutant points at unknown states: {missing}")


def write_mutant(mutant: Mutant, directory: Path) -> None:
    for machine in MACHINES:
        original = json.loads((STATEMACHINE_DIR / f"{machine}.asl.json").read_text())
        definition = copy.deepcopy(original)
        if machine == mutant.machine:
            mutant.mutate(definition)
            if definition == original:
                raise ValueError(f"{mutant.name} changes nothing")
            check_loadable(definition)
        (directory / f"{machine}.asl.json").write_text(json.dumps(definition, indent=2))


def run_tests(tests: tuple[str, ...], asl_dir: Path | None) -> tuple[str, float, str]:
    """killed / survived / error, the seconds it took, and the tail of pytest's output."""
    # the whole fault matrix is collected (make test collects only its smoke slice)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NIGHTSHIFT_FAULT_MATRIX": "full"}
    env.pop("NIGHTSHIFT_ASL_DIR", None)
    if asl_dir is not None:
        env["NIGHTSHIFT_ASL_DIR"] = str(asl_dir)
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-x", "-q",
               "--no-header", *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return "killed", time.monotonic() - started, "timed out"
    seconds = time.monotonic() - started
    tail = "\n".join(done.stdout.strip().splitlines()[-3:])
    if done.returncode == 0:
        return "survived", seconds, tail
    if done.returncode == 1:
        return "killed", seconds, tail
    return "error", seconds, tail  # usage error, no tests collected, interrupted: not a kill


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="first run every chosen test unmutated")
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "mutation-asl.json")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if args.only is None or m.name in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.name:45} {m.what}\n{'':45} tests: {', '.join(t.split('::')[-1] for t in m.tests)}")
        return 0
    if args.baseline:
        tests = tuple(sorted({t for m in mutants for t in m.tests}))
        outcome, seconds, tail = run_tests(tests, None)
        print(f"baseline ({len(tests)} tests, unmutated ASL): {'ok' if outcome == 'survived' else 'FAILED'} "
              f"in {seconds:.0f} s")
        if outcome != "survived":
            print(tail)
            return 2
    results = _kept(args.json, {m.name for m in mutants}) if args.only is not None else []
    for m in mutants:
        with tempfile.TemporaryDirectory(prefix="asl-mutant-") as tmp:
            write_mutant(m, Path(tmp))
            outcome, seconds, tail = run_tests(m.tests, Path(tmp))
        results.append({"name": m.name, "machine": m.machine, "what": m.what, "tests": list(m.tests),
                        "outcome": outcome, "seconds": round(seconds, 1), "pytest": tail})
        print(f"  {outcome:9} {m.name:45} {seconds:5.0f} s  {m.what}", flush=True)
        if outcome == "error":
            print("            " + tail.replace("\n", "\n            "))
        write(args.json, results)  # after every mutant: a run cut short still leaves its results
    killed = sum(r["outcome"] == "killed" for r in results)
    print(f"ASL mutants: {killed}/{len(results)} killed")
    return 0


def _kept(path: Path, rerun: set[str]) -> list[dict[str, Any]]:
    """With --only: the earlier results of every other mutant still defined, so a partial run updates the
    file instead of replacing it."""
    try:
        earlier = json.loads(path.read_text())["mutants"]
    except (OSError, ValueError, KeyError):
        return []
    defined = {m.name for m in MUTANTS}
    return [r for r in earlier if r.get("name") in defined - rerun]


def write(path: Path, results: list[dict[str, Any]]) -> None:
    killed = sum(r["outcome"] == "killed" for r in results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"killed": killed, "total": len(results), "mutants": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
