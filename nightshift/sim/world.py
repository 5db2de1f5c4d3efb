"""What the AWS answerers (``*_api.py``, ``agent_dimensions.py``) read of the simulated world.

An answerer is given one fleet (the simulator installed it) and, through ``peers``, every other fleet on the
same interceptor: several fleets answer as one world. ``FleetSimulator`` (fleet.py) is the one implementation;
the answerers name this protocol instead, so that no answerer imports ``fleet.py`` (which installs them) and
the simulator has no import cycle. This module imports no answerer and not ``fleet.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from nightshift.sim.autoscaling import AutoScalingGroup
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.run_command import Command
from nightshift.sim.spec import FleetSpec
from nightshift.sim.target_groups import SimulatedTargetGroup
from nightshift.sim.target_health import HealthCheck


class FleetWorld(Protocol):
    """One simulated fleet as its answerers see it, and the fleets it answers with."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Held while an answer reads or changes the world (shared by every fleet on one interceptor)."""

    @property
    def spec(self) -> FleetSpec: ...

    @property
    def account_id(self) -> str: ...

    @property
    def auto_scaling(self) -> AutoScalingGroup | None:
        """The fleet's Auto Scaling group, None without one."""

    @property
    def instances(self) -> Sequence[SimulatedInstance]:
        """Every instance ever in this fleet, index order (terminated ones stay)."""

    @property
    def peers(self) -> Sequence[FleetWorld]:
        """Every fleet on the same interceptor, this one included, in installation order."""

    @property
    def commands(self) -> dict[str, Command]:
        """The Run Commands this fleet answered SendCommand for, by command id."""

    @property
    def deregister_requests(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Every DeregisterTargets this fleet answered: (target group ARN, the Targets as sent)."""

    @property
    def checks(self) -> dict[str, HealthCheck]:
        """Each of this fleet's target groups' health check, by ARN."""

    @property
    def history_start(self) -> float:
        """Where the agent metrics' history begins."""

    def now(self) -> float: ...

    def instance(self, instance_id: str) -> SimulatedInstance | None:
        """This fleet's instance (None: not this fleet's)."""

    def owner_of(self, instance_id: str) -> tuple[FleetWorld, SimulatedInstance] | None:
        """The fleet (this one or a peer) that owns an instance, with the instance."""

    def command(self, command_id: str) -> Command | None:
        """A Run Command sent through any fleet on the same interceptor."""

    def target_group(self, tg_arn: str | None) -> SimulatedTargetGroup | None:
        """This fleet's target group (None: not this fleet's)."""

    def simulated_anywhere(self, tg_arn: str | None) -> bool:
        """Does this fleet or a peer own the target group?"""

    def tally(self, operation: str, owners: Iterable[FleetWorld] = ()) -> None:
        """Count a call once for each fleet it concerns (see FleetSimulator.tally)."""
