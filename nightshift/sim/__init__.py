"""The fleet simulator: AWS behaviour moto lacks (target health over time, real reboots, stops and starts,
Run Command output, CloudWatch agent metrics, an Auto Scaling group), answered through the runtime's
interceptor on a virtual clock."""

from nightshift.sim.capacity import CapacityPoint
from nightshift.sim.fleet import BuiltFleet, FleetSimulator
from nightshift.sim.spec import AutoScalingSpec, FleetSpec, InstanceSpec, TerminationHookSpec

__all__ = ["AutoScalingSpec", "BuiltFleet", "CapacityPoint", "FleetSimulator", "FleetSpec", "InstanceSpec",
           "TerminationHookSpec"]
