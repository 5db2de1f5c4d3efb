"""GIVEN the lifecycle as data WHEN firing triggers THEN legal moves advance and illegal ones raise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steps.domain.lifecycle import (
    DEST,
    HAPPY_PATH,
    STATES,
    TRANSITIONS,
    Lifecycle,
    MachineError,
    already_past,
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


@given(st.sampled_from(STATES), st.sampled_from(sorted(DEST)))
def test_every_move_is_either_declared_or_refused(state: str, trigger: str) -> None:
    declared = any(
        t["trigger"] == trigger and (state in t["source"] if isinstance(t["source"], list) else state == t["source"])
        for t in TRANSITIONS
    )
    lifecycle = Lifecycle(state)
    if declared:
        assert lifecycle.fire(trigger) == DEST[trigger]
    else:
        with pytest.raises(MachineError):
            lifecycle.fire(trigger)


def test_happy_path_has_no_shortcuts() -> None:
    # Every happy-path transition moves exactly one step forward.
    for t in TRANSITIONS:
        if t["dest"] in HAPPY_PATH and isinstance(t["source"], str) and t["source"] in HAPPY_PATH:
            assert HAPPY_PATH.index(t["dest"]) == HAPPY_PATH.index(t["source"]) + 1
