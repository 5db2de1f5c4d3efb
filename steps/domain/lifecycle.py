"""The remediation lifecycle as data (docs/design.md, "The remediation lifecycle"), enforced with ``transitions``.

Each step fires one trigger; an illegal move raises ``MachineError``. The happy path is ordered, so a
step can tell that its work is already recorded (a Retry or a replay reached it again) and return the
recorded result instead of acting twice.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from transitions import Machine, MachineError

HAPPY_PATH = ["requested", "selected", "draining", "rebooting", "booting", "registering", "verifying", "healthy"]
# The escalation ladder: rungs run from `escalating`; stop/start rejoins the happy path at `registering`.
ESCALATION = ["escalating"]
TERMINAL = ["nothing_to_do", "no_metric_data", "skipped", "planned", "restored", "failed", "replaced", "left_out"]
STATES = HAPPY_PATH + ESCALATION + TERMINAL
OUT_OF_SERVICE = ["draining", "rebooting", "booting", "registering", "escalating"]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "select", "source": "requested", "dest": "selected"},
    {"trigger": "find_nothing", "source": "requested", "dest": "nothing_to_do"},
    # None of the group's instances reported the metric: never "healthy", and never a reason to act.
    {"trigger": "find_no_data", "source": "requested", "dest": "no_metric_data"},
    {"trigger": "skip", "source": ["requested", "selected"], "dest": "skipped"},
    {"trigger": "plan", "source": "selected", "dest": "planned"},
    {"trigger": "deregister", "source": "selected", "dest": "draining"},
    {"trigger": "reboot", "source": "draining", "dest": "rebooting"},
    {"trigger": "confirm_boot", "source": "rebooting", "dest": "booting"},
    {"trigger": "finish_boot", "source": "booting", "dest": "registering"},
    {"trigger": "register", "source": "registering", "dest": "verifying"},
    {"trigger": "verify", "source": "verifying", "dest": "healthy"},
    # The ladder: a failed boot or verification (or too many reboots a day, right after the drain)
    # escalates; each further rung escalates again from `escalating`.
    {"trigger": "escalate", "source": ["draining", "rebooting", "booting", "verifying", "escalating"],
     "dest": "escalating"},
    {"trigger": "restart", "source": "escalating", "dest": "registering"},  # stop/start done: register, verify
    {"trigger": "replace", "source": "escalating", "dest": "replaced"},  # the ASG replaced it
    {"trigger": "leave_out", "source": "escalating", "dest": "left_out"},  # left for a person, capacity allowing
    # The restore path puts the instance back from wherever it was taken out of service.
    {"trigger": "restore", "source": [*OUT_OF_SERVICE, "verifying"], "dest": "restored"},
    {"trigger": "fail", "source": ["requested", "selected", *OUT_OF_SERVICE, "verifying"], "dest": "failed"},
    # Replay: start over from a failed or skipped remediation, keeping what earlier attempts recorded
    # (which instance, whether a reboot was requested) ...
    {"trigger": "reopen", "source": ["restored", "failed", "skipped"], "dest": "requested"},
    # ... or, when a reboot was already requested, only verify the instance is healthy again.
    {"trigger": "reverify", "source": "restored", "dest": "verifying"},
]
DEST = {t["trigger"]: t["dest"] for t in TRANSITIONS}

__all__ = ["DEST", "HAPPY_PATH", "STATES", "TRANSITIONS", "Lifecycle", "MachineError", "already_past", "may"]


class Lifecycle:
    """A state holder driven by a ``transitions.Machine``; one per remediation record."""

    state: str

    def __init__(self, state: str = "requested") -> None:
        if state not in STATES:
            raise ValueError(f"unknown lifecycle state {state!r}")
        self.machine = Machine(
            model=self, states=STATES, transitions=TRANSITIONS, initial=state, auto_transitions=False
        )

    def fire(self, trigger: str) -> str:
        """Fire ``trigger`` and return the new state; ``MachineError`` when the move is illegal."""
        if trigger not in DEST:
            raise MachineError(f"unknown trigger {trigger!r}")
        self.trigger(trigger)  # type: ignore[attr-defined]  # added by transitions
        return self.state


@cache
def may(state: str, trigger: str) -> bool:
    """Whether ``trigger`` may fire from ``state``: transitions' ``may_<trigger>()``, so a step asks the
    machine instead of copying a trigger's source states by hand. MachineError for an unknown trigger."""
    if trigger not in DEST:
        raise MachineError(f"unknown trigger {trigger!r}")
    return bool(getattr(Lifecycle(state), f"may_{trigger}")())


def already_past(state: str, trigger: str) -> bool:
    """True when ``state`` shows the work of ``trigger`` is already done (on the happy path)."""
    dest = DEST[trigger]
    if dest not in HAPPY_PATH or state not in HAPPY_PATH:
        return False
    return HAPPY_PATH.index(state) >= HAPPY_PATH.index(dest)
