"""GIVEN the lifecycle as data WHEN firing triggers THEN legal moves advance and illegal ones raise."""

from __future__ import annotations

import pytest

from steps.domain.lifecycle import (
    DEST,
    HAPPY_PATH,
    STATES,
    Lifecycle,
    MachineError,
    already_past,
    may,
)


def test_the_happy_path_reaches_healthy() -> None:
    lifecycle = Lifecycle()
    for trigger in ["select", "deregister", "reboot", "confirm_boot", "finish_boot", "register", "verify"]:
        lifecycle.fire(trigger)
    assert lifecycle.state == "healthy"


@pytest.mark.parametrize(("state", "trigger"), [
    ("requested", "reboot"),  # never reboot what was not drained
    ("selected", "reboot"),
    ("healthy", "deregister"),
    ("restored", "reboot"),
    ("draining", "register"),  # never re-register what has not provably rebooted
    ("rebooting", "register"),
])
def test_illegal_moves_raise(state: str, trigger: str) -> None:
    with pytest.raises(MachineError):
        Lifecycle(state).fire(trigger)


def test_restore_is_possible_from_every_out_of_service_state() -> None:
    for state in ["draining", "rebooting", "booting", "registering", "verifying"]:
        assert Lifecycle(state).fire("restore") == "restored"


def test_already_past_recognises_recorded_work() -> None:
    assert already_past("booting", "reboot")
    assert already_past("rebooting", "reboot")
    assert not already_past("draining", "reboot")
    assert not already_past("restored", "reboot")  # terminal states are not "past" the happy path


# The legal moves, written out by hand (one line per move, not read from TRANSITIONS): (state, trigger) -> dest.
OUT = ["draining", "rebooting", "booting", "registering", "escalating"]
LEGAL: dict[tuple[str, str], str] = {
    ("requested", "select"): "selected",
    ("requested", "find_nothing"): "nothing_to_do",
    ("requested", "find_no_data"): "no_metric_data",
    ("requested", "skip"): "skipped",
    ("selected", "skip"): "skipped",
    ("selected", "plan"): "planned",
    ("selected", "deregister"): "draining",
    ("draining", "reboot"): "rebooting",
    ("rebooting", "confirm_boot"): "booting",
    ("booting", "finish_boot"): "registering",
    ("registering", "register"): "verifying",
    ("verifying", "verify"): "healthy",
    **{(s, "escalate"): "escalating" for s in ["draining", "rebooting", "booting", "verifying", "escalating"]},
    ("escalating", "restart"): "registering",
    ("escalating", "replace"): "replaced",
    ("escalating", "leave_out"): "left_out",
    **{(s, "restore"): "restored" for s in [*OUT, "verifying"]},
    **{(s, "fail"): "failed" for s in ["requested", "selected", *OUT, "verifying"]},
    **{(s, "reopen"): "requested" for s in ["restored", "failed", "skipped"]},
    ("restored", "reverify"): "verifying",
}
ALL_STATES = ["requested", "selected", "draining", "rebooting", "booting", "registering", "verifying", "healthy",
              "escalating", "nothing_to_do", "no_metric_data", "skipped", "planned", "restored", "failed",
              "replaced", "left_out"]
ALL_TRIGGERS = sorted({trigger for _, trigger in LEGAL})


def test_the_states_and_triggers_are_exactly_the_ones_listed_here() -> None:
    assert sorted(STATES) == sorted(ALL_STATES)
    assert sorted(DEST) == ALL_TRIGGERS


def test_every_move_is_the_listed_one_or_refused() -> None:
    wrong = []
    for state in ALL_STATES:
        for trigger in ALL_TRIGGERS:
            try:
                got = Lifecycle(state).fire(trigger)
            except MachineError:
                got = "refused"
            if got != LEGAL.get((state, trigger), "refused"):
                wrong.append((state, trigger, got))
    assert wrong == []


def test_happy_path_has_no_shortcuts() -> None:
    # Every legal move between two happy-path states moves exactly one step forward (the order written by hand).
    order = ["requested", "selected", "draining", "rebooting", "booting", "registering", "verifying", "healthy"]
    assert order == HAPPY_PATH
    for (source, _), dest in LEGAL.items():
        if source in order and dest in order and dest != "requested":
            assert order.index(dest) == order.index(source) + 1, (source, dest)


def test_an_unknown_trigger_or_state_is_refused() -> None:
    with pytest.raises(MachineError, match="unknown trigger"):
        Lifecycle("requested").fire("teleport")
    with pytest.raises(ValueError, match="unknown lifecycle state"):
        Lifecycle("limbo")


@pytest.mark.parametrize(("state", "trigger", "past"), [
    # state on the happy path at or beyond the trigger's destination: the work is recorded
    ("rebooting", "reboot", True), ("booting", "reboot", True), ("healthy", "reboot", True),
    ("draining", "reboot", False), ("selected", "reboot", False), ("requested", "reboot", False),
    ("draining", "deregister", True), ("selected", "deregister", False),
    ("verifying", "register", True), ("registering", "register", False),
    ("healthy", "verify", True), ("verifying", "verify", False),
    ("booting", "confirm_boot", True), ("rebooting", "confirm_boot", False),
    ("selected", "select", True), ("requested", "select", False),
    # off the happy path on either side: never "past"
    ("restored", "reboot", False), ("escalating", "reboot", False), ("failed", "deregister", False),
    ("healthy", "escalate", False), ("verifying", "restore", False),
    # stop/start rejoins the happy path at registering: from there on its work is recorded
    ("registering", "restart", True), ("verifying", "restart", True), ("booting", "restart", False),
])
def test_already_past_table(state: str, trigger: str, past: bool) -> None:
    assert already_past(state, trigger) is past


def test_no_shortcut_to_any_state_exists() -> None:
    # Every move goes through a named trigger: transitions' automatic `to_<state>` methods would let a step jump
    # straight to, say, `healthy` without the checks the triggers encode.
    lifecycle = Lifecycle("selected")
    assert [s for s in STATES if hasattr(lifecycle, f"to_{s}")] == []
    assert lifecycle.state == "selected"


def test_may_answers_exactly_the_listed_moves() -> None:
    wrong = [(state, trigger) for state in ALL_STATES for trigger in ALL_TRIGGERS
             if may(state, trigger) != ((state, trigger) in LEGAL)]
    assert wrong == []
    assert may("selected", "skip") and not may("draining", "skip")  # the acquire step's question
    assert may("verifying", "restore") and not may("restored", "restore")  # the restore path's


def test_may_refuses_an_unknown_trigger_or_state() -> None:
    with pytest.raises(MachineError, match="unknown trigger"):
        may("requested", "teleport")
    with pytest.raises(ValueError, match="unknown lifecycle state"):
        may("limbo", "select")
