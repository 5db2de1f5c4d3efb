"""Handlers called directly (no state machine) against moto plus the fleet simulator."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from nightshift.functions import BY_NAME
from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSpec, InstanceSpec

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:it-1"


class Steps:
    """Call step handlers the way the state machine does, carrying the state document along."""

    def __init__(self, rt: LocalRuntime, sim: Any, built: Any) -> None:
        self.rt, self.sim, self.built = rt, sim, built
        self.state: dict[str, Any] = {}
        self.execution_id = EXECUTION

    def call(self, function: str, result_path: str | None = None, **state_overrides: Any) -> dict[str, Any]:
        handler = BY_NAME[f"nightshift-{function}"].handler()
        event = {"execution_id": self.execution_id, "state": {**self.state, **state_overrides}}
        result = handler(event, None)
        if result_path:
            self.state[result_path] = result
        return result

    def validate(self, **start: Any) -> dict[str, Any]:
        handler = BY_NAME["nightshift-validate-request"].handler()
        out = handler({"execution_id": self.execution_id, "execution_name": "it-1",
                       "input": {"group": "web", **start}}, None)
        self.state = dict(out)
        return out

    @property
    def leaker(self) -> str:
        return str(self.built.instance_ids[5])


@pytest.fixture
def steps() -> Iterator[Steps]:
    with LocalRuntime(log_stream=io.StringIO()) as rt:
        sim, built = rt.add_fleet(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0)}))
        group = built.group_declaration()
        group.update({"min_healthy": 2, "drain": {"signal": "ssm", "quiet_checks": 2, "poll_seconds": 5},
                      "boot": {"signal": "ssm", "poll_seconds": 10}})
        rt.declare_groups([group])
        yield Steps(rt, sim, built)
