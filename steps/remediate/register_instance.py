"""Step: put the rebooted instance back in every target group it was removed from (same ports)."""

from __future__ import annotations

from typing import Any

from steps.aws import elbv2
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import InstanceTerminating, LifecycleConflict
from steps.core.reasons import Reason
from steps.remediate import put_back
from steps.remediate.lease import stop_if_terminating
from steps.store import lifecycle


@step
def register_instance(ctx: StepContext) -> dict[str, Any]:
    record = lifecycle.load(ctx.state.request.remediation_id)
    deregistration = (record.facts or {}).get("deregister")
    if not deregistration:
        raise LifecycleConflict("nothing recorded as deregistered: refusing to register blindly")
    instance_id = deregistration["instance_id"]
    earlier = lifecycle.recorded(record, "register")
    if earlier is None and record.state != "registering":
        raise LifecycleConflict(f"cannot register {instance_id} in lifecycle state {record.state}")
    stop_if_terminating(instance_id)  # a scale-in or Spot interruption took it meanwhile: never registered again
    # RegisterTargets is idempotent, so a Retry after a crash simply registers again.
    for registration in deregistration["target_groups"]:
        elbv2.register(registration["arn"], instance_id, registration.get("port"))
    overtaken = put_back.taken_back_if_marked(instance_id, deregistration["target_groups"],
                                              [r["arn"] for r in deregistration["target_groups"]])
    if overtaken:  # the drain marked it while we registered: the restore path then puts nothing back
        raise InstanceTerminating(f"{instance_id} is being terminated ({overtaken}): stopping")
    if earlier is not None:
        return earlier
    result = {"at": ctx.now, "target_groups": [r["arn"] for r in deregistration["target_groups"]]}
    lifecycle.advance(record, "register", result, ctx.now, ctx.execution_id)
    ctx.audit(Reason.REGISTERED, f"registered {instance_id} again in {len(deregistration['target_groups'])} "
              "target group(s); waiting for health checks", instance_id=instance_id,
              target_groups=result["target_groups"])
    return result


handler = register_instance
