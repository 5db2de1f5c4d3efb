"""`nightshift demo --scenario unhealthy`: an instance whose app fails its load balancer health checks.

Its target turns ``unhealthy`` (Target.FailedHealthChecks) after UnhealthyThresholdCount x interval. The group
selects by ``unhealthy_target`` (for 120 s) and by the metric. DescribeTargetHealth never says since when, so a
first run only *sees* it failing (NOTHING_TO_DO, watching it: the hysteresis at work) and remembers when. A first
sighting carries only across looks less than UnhealthyThresholdCount x interval apart (here 2 x 30 s: a target
could have recovered and failed again unobserved in longer), so runs look every 50 s, as a sweep of a minute or
less would; 120 s after the first sighting a run chooses it, drains it, reboots it (the app restarts) and sees
it healthy again.
"""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _failing
from nightshift.sim import InstanceSpec

FOR_SECONDS = 120
HEALTH_CHECK_INTERVAL = 30  # unhealthy after 2 failed checks: a first sighting carries across looks < 60 s apart
LOOK_EVERY = 50
SELECT: list[dict[str, Any]] = [{"criterion": "unhealthy_target", "for_seconds": FOR_SECONDS}, {"criterion": "metric"}]


def _look(rt: Any, reason: str) -> dict[str, Any]:
    arn = rt.start({"group": "web", "reason": reason, "requested_by": "demo"})
    last: dict[str, Any] = {}
    for latest in rt.follow(arn, timeout=300):
        last = latest
    return {"execution_arn": arn, "status": last.get("status"), "output": last.get("output")}


def _first_sighting(rt: Any, simulator: Any, built: Any, progress: Progress | None) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    spec = simulator.spec
    # Long enough for the health checks to mark the target unhealthy (UnhealthyThresholdCount x interval).
    settle = spec.unhealthy_threshold * spec.health_check_interval + 10
    rt.clock.advance(settle)
    first = _look(rt, "nightshift demo: first look")
    say(f"  first run {first['status']}: the target is unhealthy, watched for {FOR_SECONDS} s before anything "
        f"is done (looking every {LOOK_EVERY} s)")
    looks, waited = [first], 0
    while waited + LOOK_EVERY < FOR_SECONDS:
        rt.clock.advance(LOOK_EVERY)
        waited += LOOK_EVERY
        looks.append(_look(rt, f"nightshift demo: still failing after {waited} s?"))
    rt.clock.advance(FOR_SECONDS - waited)
    return {**first, "looks": len(looks), "statuses": [look["status"] for look in looks],
            "waited_seconds": FOR_SECONDS, "look_every_seconds": LOOK_EVERY, "settle_seconds": settle}


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _failing.run("unhealthy", options, progress, InstanceSpec(fault="app_failing", fault_at=0.0), SELECT,
                        warmup=_first_sighting, health_check_interval=HEALTH_CHECK_INTERVAL)


summary = _failing.summary
