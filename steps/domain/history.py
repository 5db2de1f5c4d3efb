"""How many Step Functions history events can one remediation write, at worst? Pure.

A Standard execution fails when its history reaches 25,000 events ("Maximum execution history size:
25,000 events. If the execution history reaches this quota, the execution will fail",
https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html, and
https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html). That failure has no
Catch: the instance would stay deregistered, in Standby or stopped. Every poll loop of
``statemachine/remediate.asl.json`` (a check Task, a Choice, a Wait) writes events on each turn, so
a group whose polls are short and deadlines long could reach the quota. ``worst_case_events``
counts, for one group, every poll loop run to its deadline at its shortest possible wait, plus the
fixed path with every Retry of its Tasks, and ``GroupConfig`` refuses a group over the budget.

Events per state (a Lambda Task is called by its function ARN, no ``lambda:invoke`` integration):
- Task: TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded
  (or Failed / TimedOut), TaskStateExited = 5. A service integration Task (``dynamodb:deleteItem``):
  TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited = 5.
- Each Retry attempt adds a failed attempt: Scheduled, Started, Failed (or TimedOut) = 3.
- Choice, Wait, Pass: StateEntered + StateExited = 2 each. The execution adds ExecutionStarted and
  ExecutionSucceeded / ExecutionFailed = 2.

Loop bounds (each check returns ``wait_seconds >= 1``; the virtual or real clock moves by at least the
wait, so a loop ends when its elapsed time passes its deadline):
- boot, health, stop/start, replace: every wait is the poll interval except the last one (the rest of
  the deadline, >= 1 s) and, for boot without a signal, one wait for the rest of the minimum boot time:
  ``ceil(deadline / poll) + 2`` waits at most.
- drain, signal ``target_state``: one wait to the end of the deregistration delay, then polls through
  the margin: ``ceil(margin / poll) + 2``. The ``ssm`` signal polls through the
  whole delay, which is a target group attribute (0-3600 s), so it is counted at 3600 s; one extra
  short wait may hold a proven-idle drain to its floor: ``ceil((3600 + margin) / poll) + 2``.
- health: also, while Auto Scaling still says EnteringStandby (it lasts at most the deregistration
  delay), the check waits ``STANDBY_POLL_SECONDS`` per turn: ``ceil(3600 / 30) + 1`` more turns, once.
- The health loop runs again after a ``stop_start`` rung (it re-registers the instance).
- The boot loop runs twice with the ``ssm`` boot signal: a reboot resent on the boot time's proof that none
  was queued (REBOOT_NOT_QUEUED) starts a second one, after "Reboot the instance" ran again.

The watch loop (a selection watching an ``unhealthy_target`` sighting not due yet, steps/domain/criteria.py
``watch``) runs before all of this, and its length depends on the target groups' health check settings (a look
every half UnhealthyThresholdCount x interval, down to 5 s) and ``for_seconds``, which validation cannot see.
It is not counted in ``worst_case_events``; instead a watching execution takes at most ``watch_looks`` further
looks: the budget the rest leaves, at ``WATCH_TURN_EVENTS`` a look (the Pass that keeps the deadline, the Wait,
the select Task, its Choice). Past that it ends NOTHING_TO_DO as when its deadline passes.

Budget: 80 % of the quota (20,000 events) for this count. The count is already pessimistic: the
deregistration delay is taken at its 3600 s maximum, every loop runs to its deadline, branches that
exclude each other are all counted and every Task outside the loops is retried to its last attempt. The
other 20 % (5,000 events) is for what the count leaves out: Retries of the poll checks themselves, 3
events per failed attempt, i.e. over 1,600 failed polls in one remediation. 50 % would refuse the
bench's own settings (drain poll 5 s with a connections signal, boot poll 3 s: about 16,300 events),
which are reasonable for a web fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from steps.domain.group_settings import GroupSettings

HISTORY_LIMIT = 25_000
BUDGET_PERCENT = 80
BUDGET = HISTORY_LIMIT * BUDGET_PERCENT // 100

TASK_EVENTS = 5
FAILED_ATTEMPT_EVENTS = 3
CHOICE_EVENTS = WAIT_EVENTS = PASS_EVENTS = 2
EXECUTION_EVENTS = 2
# One turn of a poll loop: the check Task, the Choice that loops, the Wait.
LOOP_TURN_EVENTS = TASK_EVENTS + CHOICE_EVENTS + WAIT_EVENTS
# The last check of a loop: the Task and the Choice that leaves (or the Task fails into a Catch).
LOOP_EXIT_EVENTS = TASK_EVENTS + CHOICE_EVENTS

# One further look of a watching selection: "Keep watching the failing target" (Pass), "Wait, then look again",
# "Select the worst instance" (Task), "Is there an instance to heal?" (Choice).
WATCH_TURN_EVENTS = PASS_EVENTS + WAIT_EVENTS + TASK_EVENTS + CHOICE_EVENTS

# The largest deregistration delay a target group may have (ELBv2: 0-3600 seconds).
MAX_DEREGISTRATION_DELAY_SECONDS = 3600
# steps/remediate/check_health.py: the wait while Auto Scaling finishes EnteringStandby (the instance serves already).
STANDBY_POLL_SECONDS = 30
# steps/remediate/stop_start_instance.py and steps/remediate/replace_instance.py poll at these fixed intervals.
STOP_START_POLL_SECONDS = 10
REPLACE_POLL_SECONDS = 15

# The fixed path, read off remediate.asl.json (tests/unit/test_history_bound.py re-derives every number
# below from the ASL): every state outside the poll loops, once, each Task with all its Retry attempts.
# Tasks outside the loops, by their total MaxAttempts over all retriers: Validate, Acquire, Select,
# Capacity, Deregister, Reboot, Register, Choose, Leave out, Resume: 6 + 2 each; the two Announce: 3;
# Restore: 8; Release (dynamodb): 8; the two cascade starts (max_in_flight above 1): 4 each.
FIXED_TASKS = 16
FIXED_RETRY_ATTEMPTS = 10 * 8 + 2 * 3 + 8 + 8 + 2 * 4
# Choice, Pass, Succeed and Fail states outside the loops, each counted once (the loops' own Choices are in
# their turns): 10 Choices, 8 Passes, 2 Succeed, 1 Fail. Branches that exclude each other are all counted.
FIXED_OTHER_STATES = 21
OTHER_STATE_EVENTS = 2
# Repeated per rung: "Choose the next escalation rung" (Task, 8 retries) and "Which rung?" (Choice).
PER_RUNG_EVENTS = TASK_EVENTS + 8 * FAILED_ATTEMPT_EVENTS + CHOICE_EVENTS
# After a stop_start rung, "Register in every target group" runs again (Task, 8 retries).
REGISTER_AGAIN_EVENTS = TASK_EVENTS + 8 * FAILED_ATTEMPT_EVENTS
# A reboot resent on the boot time's proof runs "Reboot the instance" again (Task, 8 retries).
REBOOT_AGAIN_EVENTS = TASK_EVENTS + 8 * FAILED_ATTEMPT_EVENTS


@dataclass(frozen=True)
class HistoryBound:
    events: int  # the worst case
    limit: int  # Step Functions' quota (25,000)
    budget: int  # the share of it a group may use (80 %)
    ok: bool  # events <= budget
    detail: str  # which loops dominate, and by how much
    over_by: int  # events - budget when over, else 0
    fix: str  # the setting to change to shrink the dominant loop
    loops: tuple[tuple[str, int], ...]  # (loop, events it may write), largest first
    fixed: int  # the fixed path with its retries


FIXES = {
    "drain": "raise drain.poll_seconds (or lower drain.margin_seconds; with signal ssm "
             "the drain polls through a deregistration delay of up to 3600 s)",
    "boot": "raise boot.poll_seconds or lower boot.deadline_seconds",
    "health": "raise health.poll_seconds or lower health.deadline_seconds",
    "standby": "raise health.poll_seconds or lower health.deadline_seconds",
    "stop_start": "lower the stop_start rung's deadline_seconds in escalation.rungs",
    "replace": "lower the replace rung's deadline_seconds in escalation.rungs",
    "alarm": "lower alarm_queue_seconds (how long an alarm's remediation waits for a free slot)",
}
# An alarm's remediation that finds every slot held waits for one: Acquire, Choice, Wait, this often.
ALARM_QUEUE_POLL_SECONDS = 60


def loop_waits(deadline_seconds: int, poll_seconds: int) -> int:
    """Most Wait turns of a loop that polls every ``poll_seconds`` until ``deadline_seconds`` (see above)."""
    return ceil(deadline_seconds / poll_seconds) + 2


def _loop(waits: int) -> int:
    return waits * LOOP_TURN_EVENTS + LOOP_EXIT_EVENTS


def drain_waits(group: GroupSettings) -> int:
    spec = group.drain
    if spec.signal == "target_state":
        return loop_waits(spec.margin_seconds, spec.poll_seconds) if spec.margin_seconds else 2
    return loop_waits(MAX_DEREGISTRATION_DELAY_SECONDS + spec.margin_seconds, spec.poll_seconds)


def worst_case_events(group: GroupSettings) -> HistoryBound:
    """The most history events one remediate execution of ``group`` can write (see the module doc)."""
    # With the ssm boot signal the boot loop can run twice: when the boot time proves that an unconfirmed
    # reboot request queued nothing, the loop goes back to "Reboot the instance" (its Task again, with its
    # retries) and a new boot loop starts (steps/remediate/reboot_instance.py; never a third time).
    boot_runs = 2 if group.boot.signal == "ssm" else 1
    boot_loop = _loop(loop_waits(group.boot.deadline_seconds, group.boot.poll_seconds))
    loops: list[tuple[str, int]] = [
        ("drain loop", _loop(drain_waits(group))),
        ("boot loop (x2: a resend)" if boot_runs > 1 else "boot loop", boot_loop * boot_runs),
    ]
    rungs = group.escalation.rungs
    health_runs = 1 + sum(1 for r in rungs if r.action == "stop_start")
    health = _loop(loop_waits(group.health.deadline_seconds, group.health.poll_seconds))
    loops.append((f"health loop (x{health_runs})" if health_runs > 1 else "health loop", health * health_runs))
    if group.auto_scaling.enabled:
        standby_turns = ceil(MAX_DEREGISTRATION_DELAY_SECONDS / STANDBY_POLL_SECONDS) + 1
        loops.append(("standby wait in the health loop", standby_turns * LOOP_TURN_EVENTS))
    for rung in rungs:
        if rung.action == "stop_start":
            loops.append(("stop_start rung", _loop(loop_waits(rung.deadline_seconds, STOP_START_POLL_SECONDS))))
        elif rung.action == "replace":
            loops.append(("replace rung", _loop(loop_waits(rung.deadline_seconds, REPLACE_POLL_SECONDS))))
    if group.alarm_queue_seconds > 0:
        turns = ceil(group.alarm_queue_seconds / ALARM_QUEUE_POLL_SECONDS) + 1
        loops.append(("alarm queue (waiting for a free slot)", turns * LOOP_TURN_EVENTS))
    fixed = (EXECUTION_EVENTS + FIXED_TASKS * TASK_EVENTS + FIXED_RETRY_ATTEMPTS * FAILED_ATTEMPT_EVENTS
             + FIXED_OTHER_STATES * OTHER_STATE_EVENTS
             + len(rungs) * PER_RUNG_EVENTS + (health_runs - 1) * REGISTER_AGAIN_EVENTS
             + (boot_runs - 1) * REBOOT_AGAIN_EVENTS)
    ordered = tuple(sorted(loops, key=lambda item: -item[1]))
    events = fixed + sum(count for _, count in ordered)
    ok = events <= BUDGET
    over_by = max(0, events - BUDGET)
    top, top_count = ordered[0]
    verdict = f"within the budget of {BUDGET}" if ok else f"over the budget of {BUDGET} by {over_by}"
    detail = (f"worst case {events} history events ({verdict}; Step Functions fails the execution at "
              f"{HISTORY_LIMIT}): the {top} dominates with {top_count} ({100 * top_count // events} %); "
              f"loops: {', '.join(f'{name} {count}' for name, count in ordered)}; fixed path with retries: {fixed}")
    return HistoryBound(events=events, limit=HISTORY_LIMIT, budget=BUDGET, ok=ok, detail=detail, over_by=over_by,
                        fix=FIXES[top.split(" ")[0]], loops=ordered, fixed=fixed)


def watch_looks(group: GroupSettings) -> int:
    """How many further looks a watching selection of ``group`` may take within the budget (see the module doc)."""
    return max(0, (BUDGET - worst_case_events(group).events) // WATCH_TURN_EVENTS)
