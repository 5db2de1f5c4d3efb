"""What the ``scale-in`` and ``spot`` scenarios share: a fleet, one instance about to be terminated, the event
the simulator emits delivered to the termination trigger (as EventBridge would), the real
statemachine/drain.asl.json followed to its end, then the simulated clock run on until the instance is gone so
the requests it still had are counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nightshift.demo import DemoOptions, Progress, group_declaration
from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec, TerminationHookSpec

HEARTBEAT_SECONDS = 60  # the demo hook's HeartbeatTimeout: shorter than the drain, so heartbeats are needed
INFLIGHT_SECONDS = 90.0  # the requests in flight need this long after deregistration (unless --inflight says more)
TERMINATED_INDEX = 0


def fleet_spec(options: DemoOptions, lifecycle_hook: bool) -> FleetSpec:
    inflight = None if options.inflight_seconds is None else max(options.inflight_seconds, INFLIGHT_SECONDS)
    # The Auto Scaling group is not attached to the target groups: Nightshift's group declares them and drains.
    asg = AutoScalingSpec(min_size=1, attach_target_groups=False,
                          termination_hook=TerminationHookSpec(heartbeat_timeout=HEARTBEAT_SECONDS)) \
        if lifecycle_hook else None
    return FleetSpec(name="web", size=options.size, deregistration_delay=options.delay,
                     default=InstanceSpec(inflight_seconds=inflight), leaking={}, auto_scaling=asg)


def run(options: DemoOptions, progress: Progress | None, kind: str,
        emit: Callable[[Any, str], dict[str, Any]]) -> dict[str, Any]:
    from nightshift.runtime.lambda_router import LambdaContext
    from steps.store import audit
    from steps.triggers import termination_trigger

    wall_started = time.perf_counter()
    log_file = options.log_path.open("w") if options.log_path else None
    try:
        with LocalRuntime(log_stream=log_file) as rt:
            simulator, built = rt.add_fleet(fleet_spec(options, kind == "lifecycle"))
            rt.declare_groups([group_declaration(built, options)])
            instance = built.instance_ids[TERMINATED_INDEX]
            origin = rt.clock.now()
            event = emit(simulator, instance)
            if progress:
                progress(f"  {event['detail-type']} for {instance}")
            # EventBridge invokes the trigger: a Lambda context, as the runtime's Lambda router passes to the steps
            name = "nightshift-termination-trigger"
            started = termination_trigger.handler(event, LambdaContext(name, invoked_function_arn=rt.router.arn(name)))
            description = rt.wait(started["execution_arn"], timeout=300)
            finished = rt.clock.now()
            rt.clock.advance(600)  # past its termination: what it still had in flight is now known
            records = [audit.as_dict(r) for r in audit.for_instance(instance)]
            drained = next((r for r in records if r["event"] == "TERMINATION_DRAINED"), None)
            completed = next((r for r in records if r["event"] == "LIFECYCLE_COMPLETED"), None)
            action = simulator.lifecycle_action(instance) if kind == "lifecycle" else None
            if progress:
                for record in records:
                    progress(f"  {record['at'] - origin:7.1f} s  {record['event']:<26} {record['reason'][:90]}")
            result: dict[str, Any] = {
                "scenario": options.scenario,
                "status": description.get("status"),
                "execution_arn": started["execution_arn"],
                "event": event["detail-type"],
                "instance_id": instance,
                "group": started["group"],
                "deregistration_delay": options.delay,
                "inflight_seconds": fleet_spec(options, False).default.inflight_seconds,
                "drain_seconds": drained["details"]["drain_seconds"] if drained else None,
                "drain_ended_by": drained["details"]["ended_by"] if drained else None,
                "requests_cut": simulator.requests_cut(instance),
                "instance_state": simulator.instance_state(instance),
                "simulated_seconds": round(finished - origin, 3),
                "wall_seconds": round(time.perf_counter() - wall_started, 3),
                "audit": [r["event"] for r in records],
            }
            if kind == "lifecycle":
                result.update({
                    "lifecycle_action_completed": completed is not None and action is not None
                    and action.result == "CONTINUE",
                    "heartbeat_timeout": HEARTBEAT_SECONDS,
                    "heartbeats": len(action.heartbeats) if action is not None else 0,
                })
            return result
    finally:
        if log_file:
            log_file.close()


def summary(result: dict[str, Any], title: str) -> str:
    lines = [f"{title} {result['status']}",
             f"  instance   {result['instance_id']} ({result['event']}; group {result['group']})"]
    if result["drain_seconds"] is not None:
        lines.append(f"  drain      {result['drain_seconds']:.0f} s, ended by {result['drain_ended_by']} "
                     f"(deregistration delay {result['deregistration_delay']} s)")
    cut = result["requests_cut"]
    lines.append(f"  requests   {cut} cut when it went down" if cut else
                 "  requests   none cut: every request in flight finished before it went down")
    if "lifecycle_action_completed" in result:
        done = "completed (CONTINUE)" if result["lifecycle_action_completed"] else "NOT completed"
        lines.append(f"  lifecycle  {done} after {result['heartbeats']} heartbeat(s) (heartbeat timeout "
                     f"{result['heartbeat_timeout']} s)")
    lines.append(f"  time       {result['simulated_seconds']:.0f} s simulated in {result['wall_seconds']:.1f} s")
    lines.append(f"  audit trail: {', '.join(result['audit'])}")
    return "\n".join(lines)
