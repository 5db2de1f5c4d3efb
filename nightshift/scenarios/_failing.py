"""What the `unhealthy`, `impaired` and `hung` scenarios share: a demo fleet with one instance already failing
(an InstanceSpec ``fault``, nightshift/sim/spec.py), a group that selects by the criterion that finds it (and
by the metric, as before), the default demo's machinery (nightshift/demo.py ``run_demo``) and a report that
says which criterion chose the instance and which action healed it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nightshift.demo import LEAKING_INDEX, DemoOptions, Progress, Warmup, group_declaration, run_demo
from nightshift.demo import summary as demo_summary
from nightshift.sim import FleetSpec, InstanceSpec

FAULTY_INDEX = LEAKING_INDEX
# What healed it, from the audit trail of the run shown (the latest first: a ladder comes after a reboot).
ACTIONS = (("REPLACED", "replace"), ("STOP_STARTED", "stop_start"), ("REBOOTED", "reboot"))


def fleet(options: DemoOptions, faulty: InstanceSpec, **settings: Any) -> FleetSpec:
    """The demo fleet (no leaker) with instance FAULTY_INDEX failing as ``faulty`` says; ``settings``: other
    FleetSpec fields (the health check interval, say)."""
    return FleetSpec(name="web", size=options.size, deregistration_delay=options.delay,
                     default=InstanceSpec(inflight_seconds=options.inflight_seconds),
                     leaking={FAULTY_INDEX: replace(faulty, inflight_seconds=options.inflight_seconds)}, **settings)


def declaring(select: list[dict[str, Any]]) -> Any:
    def declaration(built: Any, options: DemoOptions) -> dict[str, Any]:
        return {**group_declaration(built, options), "select": select}
    return declaration


def run(scenario: str, options: DemoOptions, progress: Progress | None, faulty: InstanceSpec,
        select: list[dict[str, Any]], warmup: Warmup | None = None, **fleet_settings: Any) -> dict[str, Any]:
    options = replace(options, scenario=scenario)
    ids: list[str] = []

    def remember(rt: Any, simulator: Any, built: Any, say: Progress | None) -> dict[str, Any]:
        ids.append(built.instance_ids[FAULTY_INDEX])
        return warmup(rt, simulator, built, say) if warmup is not None else {}

    result = run_demo(options, progress, fleet=fleet(options, faulty, **fleet_settings), declaration=declaring(select),
                      warmup=remember)
    execution = result["execution_arn"]
    mine = [r for r in result["audit"] if r.get("execution_id") == execution]
    events = [r["event"] for r in mine]
    selection = result.get("selection") or {}
    result.update({
        "expected_instance_id": ids[0] if ids else None,
        "criterion": selection.get("criterion"),
        "first_rung": selection.get("first_rung"),
        "action": next((action for event, action in ACTIONS if event in events), None),
        "healed": result["status"] == "SUCCEEDED" and "HEALTHY" in events,
    })
    return result


def summary(result: dict[str, Any]) -> str:
    lines = demo_summary(result).splitlines()
    sel = result.get("selection") or {}
    why = (f"  why        criterion {result.get('criterion')}: failing for {sel.get('seconds')} s "
           f"(needs {sel.get('for_seconds')} s)"
           + (f"; first rung {result['first_rung']}" if result.get("first_rung") else ""))
    lines = [why if line.startswith("  why ") else line for line in lines]
    lines.insert(2 if len(lines) > 1 else 1, f"  healed by  {result.get('action')} "
                 f"({'healthy again' if result.get('healed') else 'NOT healed'})")
    return "\n".join(lines)
