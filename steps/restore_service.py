"""Step: the restore path every failure after the lock goes through.

Puts the instance back in every target group the lifecycle record says it was removed from (the
record, not the state document, because the failure may have struck before the state held it),
records the failure with its cause, and leaves the lock to the next state. Idempotent.
"""

from __future__ import annotations

from typing import Any

from steps.aws import elbv2
from steps.domain.lifecycle import OUT_OF_SERVICE
from steps.entrypoint import StepContext, step
from steps.store import lifecycle


@step
def restore_service(ctx: StepContext) -> dict[str, Any]:
    error = ctx.state.error
    error_name, cause = (error.Error, error.Cause) if error else ("Unknown", "no error information")
    record = lifecycle.load(ctx.state.request.remediation_id)
    deregistration = (record.facts or {}).get("deregister")
    restored_to: list[str] = []
    if deregistration and record.state in [*OUT_OF_SERVICE, "verifying", "restored"]:
        instance_id = deregistration["instance_id"]
        for registration in deregistration["target_groups"]:
            elbv2.register(registration["arn"], instance_id, registration.get("port"))
            restored_to.append(registration["arn"])
        if record.state != "restored":
            lifecycle.advance(record, "restore", {"error": error_name, "target_groups": restored_to}, ctx.now,
                              ctx.execution_id)
        ctx.audit("RESTORED", f"put {instance_id} back in {len(restored_to)} target group(s) after {error_name}",
                  instance_id=instance_id, target_groups=restored_to, error=error_name)
    elif record.state in ("requested", "selected"):
        lifecycle.advance(record, "fail", {"error": error_name}, ctx.now, ctx.execution_id)
    ctx.audit("FAILED", f"remediation failed with {error_name}: {cause[:500]}",
              instance_id=record.instance_id, error=error_name, cause=cause[:2000],
              lifecycle_state=record.state, restored_to=restored_to)
    return {"status": "failed", "error": error_name, "cause": cause[:2000], "restored": bool(restored_to)}


handler = restore_service
