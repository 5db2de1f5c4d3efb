"""The fleet simulator: AWS behaviour moto lacks (target health over time, real reboots, Run Command
output, CloudWatch agent metrics), answered through the runtime's interceptor on a virtual clock."""

from nightshift.sim.capacity import CapacityPoint
from nightshift.sim.fleet import BuiltFleet, FleetSimulator
from nightshift.sim.spec import FleetSpec, InstanceSpec

__all__ = ["BuiltFleet", "CapacityPoint", "FleetSimulator", "FleetSpec", "InstanceSpec"]
