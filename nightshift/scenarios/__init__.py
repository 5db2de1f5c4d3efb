"""`nightshift demo --scenario NAME`: each failure Nightshift handles, shown on the simulator.

``leak`` is the default demo (nightshift/demo.py). Every other scenario is one module here,
``nightshift/scenarios/<name with _ for ->.py``, with two functions:

- ``run(options: DemoOptions, progress) -> dict``: builds its fleet with the local runtime, runs the real
  state machine(s), and returns the ``--json`` object; it always holds ``scenario`` and ``status``
  (the execution's status, SUCCEEDED when the case was handled);
- ``summary(result) -> str``: the human-readable report.

Register a scenario with one line in ``SCENARIOS``: its name and what it shows.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

SCENARIOS: dict[str, str] = {
    "leak": "an instance leaks memory until its metric breaches: drained, rebooted, back in service",
    "unhealthy": "an instance's app fails its health checks: chosen by unhealthy_target after 120 s, rebooted",
    "impaired": "an instance's host fails its system status check: chosen by status_check, stopped and started",
    "hung": "an instance's OS hangs (no metrics, no SSM): chosen by silent, hard-rebooted",
}


def module_name(scenario: str) -> str:
    return f"nightshift.scenarios.{scenario.replace('-', '_')}"


def runner(scenario: str) -> tuple[Callable[..., dict[str, Any]], Callable[[dict[str, Any]], str]]:
    """(run, summary) of a registered scenario; ``leak`` is the default demo."""
    if scenario not in SCENARIOS:
        raise ValueError(f"--scenario {scenario!r}: not a scenario; choose one of {', '.join(SCENARIOS)}")
    if scenario == "leak":
        from nightshift.demo import run_demo, summary

        return run_demo, summary
    module = importlib.import_module(module_name(scenario))
    return module.run, module.summary
