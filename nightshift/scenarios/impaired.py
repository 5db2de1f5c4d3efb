"""`nightshift demo --scenario impaired`: an instance whose *system* status check is impaired (its host fails).

DescribeInstanceStatus says SystemStatus ``impaired`` with ImpairedSince ten minutes ago; the group selects by
``status_check`` (for 300 s) and by the metric. A reboot would not move it off its host, so the selection says
``first_rung: stop_start``: it is drained and stopped and started (a new host), never rebooted, then
registered and verified healthy.
"""

from __future__ import annotations

from typing import Any

from nightshift.demo import DemoOptions, Progress
from nightshift.scenarios import _failing
from nightshift.sim import InstanceSpec

SELECT: list[dict[str, Any]] = [{"criterion": "status_check", "for_seconds": 300}, {"criterion": "metric"}]


def run(options: DemoOptions, progress: Progress | None = None) -> dict[str, Any]:
    return _failing.run("impaired", options, progress, InstanceSpec(fault="system_impaired", fault_at=-600.0),
                        SELECT)


summary = _failing.summary
