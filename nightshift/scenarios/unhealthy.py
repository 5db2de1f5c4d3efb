"""`nightshift demo --scenario unhealthy`: an instance whose app fails its load balancer health checks.

Its target turns ``unhealthy`` (Target.FailedHealthChecks) after UnhealthyThresholdCount x interval. The group
selects by ``unhealthy_target`` (for 120 s) and by the metric. DescribeTargetHealth never says since when, so the
one run *sees* it failing, remembers when, and watches it (WATCHING, the hysteresis at work): a first sighting
carries only across looks less than UnhealthyThresholdCount x interval apart (here 2 x 30 s: a target could have
recovered and failed again unobserved in longer), so the run itself Waits under half of that (30 s) and looks
again. 120 s after the first sighting it chooses the instance, drains it, reboots it (the app restarts) and sees
it healthy again: one run, as an hourly sweep would start it.
"""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _failing
from nightshift.sim import InstanceSpec

FOR_SECONDS = 120
HEALTH_CHECK_INTERVAL = 30  # unhealthy after 2 failed checks: a first sighting carries across looks < 60 s apart
SELECT: list[dict[str, Any]] = [{"criterion": "unhealthy_target", "for_seconds": FOR_SECONDS}, {"criterion": "metric"}]


def _unhealthy_by_now(rt: Any, simulator: Any, built: Any, progress: Progress | None) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    spec = simulator.spec
    # Long enough for the health checks to mark the target unhealthy (UnhealthyThresholdCount x interval).
    settle = spec.unhealthy_threshold * spec.health_check_interval + 10
    rt.clock.advance(settle)
    say(f"  the target fails its health checks: the run watches it for {FOR_SECONDS} s before anything is done")
    return {"settle_seconds": settle, "for_seconds": FOR_SECONDS}


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _failing.run("unhealthy", options, progress, InstanceSpec(fault="app_failing", fault_at=0.0), SELECT,
                        warmup=_unhealthy_by_now, health_check_interval=HEALTH_CHECK_INTERVAL)


summary = _failing.summary
