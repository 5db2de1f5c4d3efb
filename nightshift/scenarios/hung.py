"""`nightshift demo --scenario hung`: an instance whose OS hangs: its CloudWatch agent stopped publishing a
quarter of an hour ago, its SSM agent is offline, its health checks time out; EC2's status checks still say ok.

The group selects by ``silent`` (no datapoint for 300 s while its peers report) and by the metric. It is drained
(the SSM signal is unavailable, so the drain waits the deregistration delay) and rebooted: a hung OS cannot shut
down cleanly, so EC2 hard-reboots it minutes later; then it boots, reports again and turns healthy.
"""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _failing
from nightshift.sim import InstanceSpec

SELECT: list[dict[str, Any]] = [{"criterion": "silent", "for_seconds": 300}, {"criterion": "metric"}]


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _failing.run("hung", options, progress, InstanceSpec(fault="hung", fault_at=-900.0), SELECT)


summary = _failing.summary
