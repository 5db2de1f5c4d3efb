"""Step (last escalation rung ``leave_out``): leave the instance out of service for a person, but only while
the rest of the group has the capacity to spare it; otherwise fail into the restore path, which puts it
back and pages. Either way the ending is announced.

An instance we put in Auto Scaling Standby stays there, so the ASG neither replaces it nor sends it
traffic while someone investigates; the reconciler leaves a ``left_out`` remediation alone.
"""

from __future__ import annotations

from typing import Any

from steps.aws import elbv2
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import CapacityLost, LifecycleConflict
from steps.core.reasons import Reason
from steps.remediate import blockers, put_back
from steps.store import lifecycle


@step
def leave_out_instance(ctx: StepContext) -> dict[str, Any]:
    escalation = ctx.require_rung("leave_out")
    record = lifecycle.load(ctx.state.request.remediation_id)
    facts = record.facts or {}
    deregistration = facts.get("deregister") or {}
    instance_id = str(deregistration.get("instance_id") or record.instance_id)
    outcome = {"status": "left_out", "instance_id": instance_id, "tried": escalation.tried,
               "reason": escalation.reason}
    if record.state == "left_out":
        # A Retry: the earlier attempt's lifecycle write took effect but it may have died (or lost the answer)
        # before its audit; announce it again rather than leave an instance out with no LEFT_OUT_OF_SERVICE.
        ctx.audit(Reason.LEFT_OUT_OF_SERVICE, f"{instance_id} is left out of service for a person to look at after "
                  f"{escalation.reason}; rungs tried: {', '.join(escalation.tried)} (recorded by an earlier "
                  "attempt of this step)", instance_id=instance_id, tried=escalation.tried, retried=True)
        return outcome
    if record.state != "escalating":
        raise LifecycleConflict(f"cannot leave {instance_id} out in lifecycle state {record.state}")
    being_replaced = put_back.being_replaced(instance_id, facts)
    capacity = blockers.capacity_now(ctx.group, instance_id, ctx.execution_id, ctx.now).decision
    if not capacity.allowed and not being_replaced:
        ctx.audit(capacity.skip_code, f"cannot leave {instance_id} out of service: {capacity.reason}",
                  instance_id=instance_id, checks=capacity.numbers())
        raise CapacityLost(f"leaving {instance_id} out would break the capacity guard: {capacity.reason}")
    for registration in deregistration.get("target_groups", []):
        elbv2.deregister(registration["arn"], instance_id, registration.get("port"))
    lifecycle.advance(record, "leave_out", {"tried": escalation.tried, "reason": escalation.reason}, ctx.now,
                      ctx.execution_id)
    ctx.audit(Reason.LEFT_OUT_OF_SERVICE,
              f"{instance_id} is left out of service for a person to look at after {escalation.reason}; "
              f"rungs tried: {', '.join(escalation.tried)}. Capacity allows it: {capacity.reason}",
              instance_id=instance_id, tried=escalation.tried, checks=capacity.numbers(),
              being_replaced=being_replaced)
    return outcome


handler = leave_out_instance
