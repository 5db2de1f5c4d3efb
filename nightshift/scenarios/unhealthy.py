"""`nightshift demo --scenario unhealthy`: an instance whose app fails its load balancer health checks.

Its target turns ``unhealthy`` (Target.FailedHealthChecks) after UnhealthyThresholdCount x interval. The group
selects by ``unhealthy_target`` (for 120 s) and by the metric. DescribeTargetHealth never says since when, so a
first run only *sees* it failing (NOTHING_TO_DO, watching it: the hysteresis at work) and remembers when;
120 s later a second run chooses it, drains it, reboots it (the app restarts) and sees it healthy again.
"""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _failing
from nightshift.sim import InstanceSpec

FOR_SECONDS = 120
SELECT: list[dict[str, Any]] = [{"criterion": "unhealthy_target", "for_seconds": FOR_SECONDS}, {"criterion": "metric"}]


def _first_sighting(rt: Any, simulator: Any, built: Any, progress: Progress | None) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    spec = simulator.spec
    # Long enough for the health checks to mark the target unhealthy (UnhealthyThresholdCount x interval).
    settle = spec.unhealthy_threshold * spec.health_check_interval + 10
    rt.clock.advance(settle)
    arn = rt.start({"group": "web", "reason": "nightshift demo: first look", "requested_by": "demo"})
    last: dict[str, Any] = {}
    for latest in rt.follow(arn, timeout=300):
        last = latest
    output = last.get("output")
    say(f"  first run {last.get('status')}: the target is unhealthy, watched for {FOR_SECONDS} s before anything "
        "is done")
    rt.clock.advance(FOR_SECONDS)
    return {"execution_arn": arn, "status": last.get("status"), "output": output, "waited_seconds": FOR_SECONDS,
            "settle_seconds": settle}


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _failing.run("unhealthy", options, progress, InstanceSpec(fault="app_failing", fault_at=0.0), SELECT,
                        warmup=_first_sighting)


summary = _failing.summary
