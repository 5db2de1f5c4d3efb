"""The Step Functions history bound (steps/domain/history.py), checked against the real ASL.

Events per state type come from AWS's history event types, not from the module: a Lambda Task called by
its ARN writes TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded,
TaskStateExited; a failed attempt that a Retry repeats writes Scheduled, Started, Failed; Choice, Wait,
Pass, Succeed write <Type>StateEntered and <Type>StateExited. The loops, the fixed path and the retries
are read off statemachine/remediate.asl.json here.
"""

from __future__ import annotations

import json
from math import ceil
from pathlib import Path
from typing import Any

import pytest

from steps.core.config import (
    AutoScalingSpec,
    BootSpec,
    ConfigurationError,
    DrainSpec,
    EscalationSpec,
    GroupConfig,
    HealthSpec,
    parse_groups,
)
from steps.domain import boot, drain
from steps.domain.history import BUDGET, HISTORY_LIMIT, watch_looks, worst_case_events

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "remediate.asl.json").read_text())["States"]
EVENTS_BY_TYPE = {"Task": 5, "Choice": 2, "Wait": 2, "Pass": 2, "Succeed": 2, "Fail": 2}
FAILED_ATTEMPT = 3
EXECUTION = 2  # ExecutionStarted, ExecutionSucceeded/Failed
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
MAX_DELAY = 3600  # ELBv2 deregistration_delay.timeout_seconds: 0-3600


def loops() -> dict[str, dict[str, Any]]:
    """Every Wait -> Task -> Choice -> (default) the same Wait cycle, by the Task's function."""
    found = {}
    for wait_name, wait in ASL.items():
        if wait["Type"] != "Wait" or wait_name in watch_loop()["states"] | queue_loop()["states"]:
            continue
        task_name = wait["Next"]
        task = ASL[task_name]
        choice = ASL[task["Next"]]
        assert task["Type"] == "Task" and choice["Type"] == "Choice" and choice["Default"] == wait_name
        function = task["Resource"].removeprefix("${").removesuffix("FunctionArn}")
        found[function] = {
            "states": {wait_name, task_name, task["Next"]},
            "turn": EVENTS_BY_TYPE["Task"] + EVENTS_BY_TYPE["Choice"] + EVENTS_BY_TYPE["Wait"],
            "exit": EVENTS_BY_TYPE["Task"] + EVENTS_BY_TYPE["Choice"],
        }
    return found


def watch_loop() -> dict[str, Any]:
    """The watch loop: select's Choice -> (action "watch") a Pass -> a Wait -> select again. The select Task and
    its Choice are on the fixed path (the first look); each further look adds all four states."""
    select = ASL["Select the worst instance"]
    choice = ASL[select["Next"]]
    [keep] = [c["Next"] for c in choice["Choices"] if c.get("StringEquals") == "watch"]
    wait = ASL[keep]["Next"]
    assert ASL[keep]["Type"] == "Pass" and ASL[wait]["Type"] == "Wait"
    assert ASL[wait]["Next"] == "Select the worst instance"
    return {"states": {keep, wait}, "turn": sum(EVENTS_BY_TYPE[ASL[n]["Type"]]
                                                 for n in (keep, wait, "Select the worst instance", select["Next"]))}


def queue_loop() -> dict[str, Any]:
    """The alarm queue: the Acquire Task's Choice -> (queue) a Wait -> Acquire again. Acquire and its Choice are on
    the fixed path (the first try); each further try adds the Wait, the Task and the Choice."""
    choice = ASL["Is the lock ours?"]
    [wait] = [c["Next"] for c in choice["Choices"] if ASL[c["Next"]]["Type"] == "Wait"]
    assert ASL[wait]["Next"] == "Acquire the group lock"
    return {"states": {wait}, "turn": EVENTS_BY_TYPE["Wait"] + EVENTS_BY_TYPE["Task"] + EVENTS_BY_TYPE["Choice"]}


def retries(state: dict[str, Any]) -> int:
    return sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))


def fixed_path(rungs: list[str]) -> int:
    in_loops = set().union(*(loop["states"] for loop in loops().values()), watch_loop()["states"],
                           queue_loop()["states"])
    total = EXECUTION
    for name, state in ASL.items():
        if name not in in_loops:
            total += EVENTS_BY_TYPE[state["Type"]] + FAILED_ATTEMPT * retries(state)
    choose = ASL["Choose the next escalation rung"]
    per_rung = EVENTS_BY_TYPE["Task"] + FAILED_ATTEMPT * retries(choose) + EVENTS_BY_TYPE["Choice"]
    register = ASL["Register in every target group"]
    again = EVENTS_BY_TYPE["Task"] + FAILED_ATTEMPT * retries(register)
    return total + len(rungs) * per_rung + rungs.count("stop_start") * again


def simulate(decide: Any) -> int:
    """Turns of a loop whose every Wait is exactly what ``decide(elapsed)`` asks (the least the clock moves)."""
    elapsed, turns = 0.0, 0
    while True:
        done, wait = decide(elapsed, turns)
        if done:
            return turns
        assert wait >= 1
        elapsed += wait
        turns += 1


def drain_turns(signal: str, poll: int, margin: int, floor: int) -> int:
    policy = drain.DrainPolicy(signal, MAX_DELAY, margin, floor, poll, quiet_checks=2)
    worst = 0
    # Adversarial readings: quiet right away (the floor wait), or quiet that a busy reading breaks each time.
    for pattern in ("never", "early_then_busy", "busy"):
        def step(elapsed: float, turns: int, pattern: str = pattern) -> tuple[bool, int]:
            quiet = 2 if pattern == "early_then_busy" and turns == 0 else 0
            d = drain.decide(policy, elapsed, False, quiet)
            return d.done, d.wait_seconds
        worst = max(worst, simulate(step))
    return worst


def boot_turns(signal: str, poll: int, min_wait: int, deadline: int) -> int:
    policy = boot.BootPolicy(signal, poll, min_wait, deadline)

    def step(elapsed: float, _: int) -> tuple[bool, int]:
        d = boot.decide(policy, 0.0, elapsed, None, None, False)
        return d.phase == boot.TIMED_OUT, d.wait_seconds
    return simulate(step)


def poll_turns(poll: int, deadline: int) -> int:
    """steps/remediate/check_health.py and the rung steps: wait = max(1, min(poll, ceil(deadline - elapsed)))."""
    def step(elapsed: float, _: int) -> tuple[bool, int]:
        if elapsed >= deadline:
            return True, 0
        return False, max(1, min(poll, ceil(deadline - elapsed)))
    return simulate(step)


def independent(group: GroupConfig) -> int:
    """The worst case recomputed from the ASL and the decide() functions, not from history.py."""
    found = loops()
    assert set(found) == {"CheckDrain", "CheckBoot", "CheckHealth", "StopStartInstance", "ReplaceInstance"}

    def loop(name: str, turns: int) -> int:
        return turns * found[name]["turn"] + found[name]["exit"]

    rungs = [r.action for r in group.escalation.rungs]
    total = fixed_path(rungs)
    d, b, h = group.drain, group.boot, group.health
    total += loop("CheckDrain", drain_turns(d.signal, d.poll_seconds, d.margin_seconds, d.floor_seconds))
    # with the ssm signal a reboot may be resent once (REBOOT_NOT_QUEUED): a second boot loop, and the Reboot Task
    # again with all its Retry attempts (read off the ASL like the fixed path's)
    boot_runs = 2 if b.signal == "ssm" else 1
    total += boot_runs * loop("CheckBoot", boot_turns(b.signal, b.poll_seconds, b.min_wait_seconds,
                                                      b.deadline_seconds))
    reboot = ASL["Reboot the instance"]
    total += (boot_runs - 1) * (EVENTS_BY_TYPE["Task"] + FAILED_ATTEMPT * retries(reboot))
    total += loop("CheckHealth", poll_turns(h.poll_seconds, h.deadline_seconds)) * (1 + rungs.count("stop_start"))
    if group.auto_scaling.enabled:  # EnteringStandby lasts up to the delay; the check waits >= 30 s a turn
        total += (MAX_DELAY // 30) * found["CheckHealth"]["turn"]
    for rung in group.escalation.rungs:
        if rung.action == "stop_start":
            total += loop("StopStartInstance", poll_turns(10, rung.deadline_seconds))
        elif rung.action == "replace":
            total += loop("ReplaceInstance", poll_turns(15, rung.deadline_seconds))
    # an alarm's remediation waiting for a free slot: a try every 60 s until alarm_queue_seconds
    total += poll_turns(60, group.alarm_queue_seconds) * queue_loop()["turn"] if group.alarm_queue_seconds else 0
    return total


FITTING: list[dict[str, Any]] = [
    {},
    {"drain": {"signal": "ssm", "poll_seconds": 10, "quiet_checks": 2}, "boot": {"signal": "ssm"}},
    {"drain": {"signal": "ssm", "poll_seconds": 5}, "boot": {"signal": "none", "poll_seconds": 5}},
    {"drain": {"signal": "target_state", "poll_seconds": 1, "margin_seconds": 600},
     "boot": {"poll_seconds": 3, "deadline_seconds": 1800}, "auto_scaling": {"enabled": False},
     "escalation": {"rungs": []}},
    {"health": {"poll_seconds": 5, "deadline_seconds": 1800},
     "escalation": {"rungs": [{"action": "stop_start", "deadline_seconds": 1800}, {"action": "leave_out"}]}},
]
OVER: list[dict[str, Any]] = [
    {"drain": {"signal": "ssm", "poll_seconds": 1}},
    {"drain": {"signal": "ssm", "poll_seconds": 2, "margin_seconds": 600}},
    {"boot": {"poll_seconds": 1, "deadline_seconds": 3600}},
    {"health": {"poll_seconds": 1, "deadline_seconds": 3600}},
    {"health": {"poll_seconds": 2, "deadline_seconds": 1800},
     "escalation": {"rungs": [{"action": "stop_start", "deadline_seconds": 7200}, {"action": "leave_out"}]}},
]
SPECS = {"drain": DrainSpec, "boot": BootSpec, "health": HealthSpec, "auto_scaling": AutoScalingSpec,
         "escalation": EscalationSpec}


def group(**overrides: Any) -> GroupConfig:
    return GroupConfig.model_validate({"name": "web", "target_group_arns": [ARN], **overrides})


def unchecked(**overrides: Any) -> GroupConfig:
    """The group with every field validated except the history budget (to count groups that fail it)."""
    parts = {key: SPECS[key].model_validate(value) for key, value in overrides.items()}
    return GroupConfig.model_construct(name="web", target_group_arns=[ARN], **parts)


@pytest.mark.parametrize("overrides", FITTING + OVER)
def test_the_bound_covers_the_loops_read_off_the_asl_and_the_decide_functions(overrides: dict[str, Any]) -> None:
    bound = worst_case_events(unchecked(**overrides))
    assert bound.limit == HISTORY_LIMIT == 25_000 and bound.budget == 20_000
    # history.py may count a few turns more than the simulation reaches (its closed form rounds up; boot
    # without a signal waits out min_wait in one turn), never fewer: at most 5 % over
    simulated = independent(unchecked(**overrides))
    assert simulated <= bound.events <= simulated * 1.05, (simulated, bound.events)
    assert bound.ok == (bound.events <= 20_000)
    assert bound.ok == (overrides in FITTING)


@pytest.mark.parametrize("overrides", FITTING)
def test_groups_within_the_budget_are_accepted(overrides: dict[str, Any]) -> None:
    assert worst_case_events(group(**overrides)).ok


@pytest.mark.parametrize("overrides", OVER)
def test_groups_over_the_budget_are_refused(overrides: dict[str, Any]) -> None:
    bound = worst_case_events(unchecked(**overrides))
    with pytest.raises(ConfigurationError) as refused:
        parse_groups({"groups": [{"name": "chatty", "target_group_arns": [ARN], **overrides}]})
    message = str(refused.value)
    assert f"group 'chatty': a remediation could write {bound.events}" in message
    assert f"over the budget of 20000 (80 % of the 25000 quota) by {bound.events - 20_000}" in message
    assert bound.fix in message


def test_the_default_group_and_every_shipped_declaration_fit() -> None:
    assert worst_case_events(group()).ok
    example = json.loads((ROOT / "infra" / "groups.example.json").read_text())
    for declared in parse_groups(example).groups:
        assert worst_case_events(declared).ok


def test_a_chatty_drain_is_refused_naming_the_setting_to_change() -> None:
    # independently of history.py: 3615 s of 1 s polls is over 32,000 events, past the quota itself
    assert drain_turns("ssm", 1, 15, 5) * loops()["CheckDrain"]["turn"] > HISTORY_LIMIT
    with pytest.raises(ConfigurationError) as refused:
        parse_groups({"groups": [{"name": "chatty", "target_group_arns": [ARN],
                                  "drain": {"signal": "ssm", "poll_seconds": 1}}]})
    message = str(refused.value)
    assert "'chatty'" in message and "20000" in message and "raise drain.poll_seconds" in message


def test_a_long_health_loop_names_the_health_settings() -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_groups({"groups": [{"name": "slow", "target_group_arns": [ARN],
                                  "health": {"poll_seconds": 1, "deadline_seconds": 3600}}]})
    assert "health.poll_seconds" in str(refused.value) and "health.deadline_seconds" in str(refused.value)


def test_the_sweep_machine_has_no_unbounded_loop() -> None:
    sweep = json.loads((ROOT / "statemachine" / "sweep.asl.json").read_text())["States"]
    # No Wait at the top level (no poll loop); each group runs as its own child execution inside the Map,
    # with its own history (the Map's iterations write a few events each in the sweep's history).
    assert not [n for n, s in sweep.items() if s["Type"] == "Wait"]
    maps = [s for s in sweep.values() if s["Type"] == "Map"]
    for state in maps:
        inner = (state.get("ItemProcessor") or state.get("Iterator"))["States"]
        assert not [n for n, s in inner.items() if s["Type"] == "Wait"]


class _Built:
    @staticmethod
    def group_declaration() -> dict[str, Any]:
        return {"name": "web", "target_group_arns": [ARN]}


def test_the_demo_tests_and_bench_declarations_fit() -> None:
    from bench.run import SWEEP
    from bench.scenarios import Settings
    from nightshift.demo import DemoOptions, group_declaration
    from tests.harness import group_for

    declarations = [group_for(_Built()), group_declaration(_Built(), DemoOptions())]
    for signal in ("ssm", "target_state"):
        declarations.append(group_declaration(_Built(), DemoOptions(signal=signal, boot_signal="none")))
        for changes in SWEEP.values():
            from dataclasses import replace
            declarations.append({"name": "web", "target_group_arns": [ARN],
                                 **replace(Settings(), **changes).group(signal)})
    for declared in declarations:
        bound = worst_case_events(GroupConfig.model_validate(declared))
        assert bound.ok, (declared, bound.detail)


@pytest.mark.parametrize("overrides", FITTING)
def test_a_watching_selection_takes_only_the_looks_the_budget_leaves(overrides: dict[str, Any]) -> None:
    # Each further look writes the watch loop's four states (read off the ASL): the most looks watch_looks allows
    # fit within the budget with the rest of the remediation at its worst, and one more would not.
    g = unchecked(**overrides)
    turn, rest = watch_loop()["turn"], independent(g)
    looks = watch_looks(g)
    assert turn == 11 and looks > 0
    assert rest + looks * turn <= BUDGET < worst_case_events(g).events + (looks + 1) * turn
