"""Step (replays only): make a failed remediation safe to continue, then say what is left to do.

1. Put back in service anything the failed run left out (it may have died mid-drain or mid-boot).
2. If an earlier attempt requested a reboot (or may have: a crash can hide a successful call), never
   reboot again: only verify the instance is healthy, holding its instance claim (another remediation holding
   it: nothing now, SKIPPED_CLAIMED). Otherwise start over on the same instance (the selection claims it).
3. A remediation that already ended (healthy, replaced, left out for a person) has nothing left to do.
"""

from __future__ import annotations

from typing import Any

from steps.aws.stepfunctions import execution_status
from steps.core.entrypoint import StepContext, step
from steps.core.reasons import Reason
from steps.domain.lifecycle import may
from steps.remediate import put_back
from steps.remediate.standby import audit_standby
from steps.store import claim, lifecycle
from steps.store.lifecycle import RemediationRecord

# Ended: nothing to replay. (Replaced by its ASG, or deliberately left out for a person.)
ENDED = frozenset({"healthy", "nothing_to_do", "no_metric_data", "planned", "replaced", "left_out"})


def _put_back(ctx: StepContext, record: RemediationRecord) -> list[str]:
    if not (record.facts or {}).get("deregister") or not may(record.state, "restore"):
        return []
    result = put_back.put_back(record.facts or {})
    lifecycle.advance(record, "restore", {"error": "replayed", **result.numbers()}, ctx.now, ctx.execution_id)
    ctx.audit(Reason.RESTORED, f"replay put {result.instance_id} back in {len(result.target_groups)} target group(s) "
              "the failed run left it out of", instance_id=result.instance_id,
              replay_of=ctx.state.request.replay_of, **result.numbers())
    audit_standby(ctx, result)
    return result.target_groups


def reboot_may_have_happened(record: RemediationRecord) -> bool:
    reboot = (record.facts or {}).get("reboot")
    return isinstance(reboot, dict) and not reboot.get("refused")


@step
def resume_remediation(ctx: StepContext) -> dict[str, Any]:
    state = ctx.state.model_dump(mode="json", exclude_none=True)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if record.state in ENDED:
        ctx.audit(Reason.REPLAY_NOT_NEEDED, f"remediation {record.remediation_id} already ended {record.state}; "
                  "nothing to replay", lifecycle_state=record.state)
        return {**state, "resume": {"next": "done", "state": record.state}}
    put_back = _put_back(ctx, record)
    facts = record.facts or {}
    if reboot_may_have_happened(record) and record.state == "restored" and facts.get("deregister"):
        deregistration = facts["deregister"]
        instance_id = deregistration["instance_id"]
        # Verifying (and the escalation ladder after it) acts on the instance: hold its claim as a selection
        # would (the failed run released it); the release path deletes it through $.selection.
        claimed = claim.acquire(instance_id, ctx.execution_id, ctx.group.name, record.remediation_id, ctx.now,
                                ctx.group.lock_lease_seconds, execution_status)
        if not claimed.claimed:
            ctx.audit(Reason.SKIPPED_CLAIMED, f"{instance_id} is claimed by another remediation ({claimed.holder}, "
                      f"group {claimed.holder_group}): not verified now; replay again once it ends",
                      instance_id=instance_id, holder=claimed.holder, holder_group=claimed.holder_group)
            return {**state, "resume": {"next": "claimed", "put_back": put_back}}
        lifecycle.advance(record, "reverify", {"replay_of": ctx.state.request.replay_of}, ctx.now,
                          ctx.execution_id)
        ctx.audit(Reason.REPLAY_VERIFY, f"{deregistration['instance_id']} was already asked to reboot in this "
                  "remediation: never again; verifying its health only", instance_id=deregistration["instance_id"],
                  reboot=facts.get("reboot"), put_back=put_back)
        return {**state, "deregistration": deregistration, "registration": {"at": ctx.now},
                "selection": {"action": "remediate", "instance_id": instance_id,
                              "reason": "replay verifying the instance this remediation rebooted"},
                "resume": {"next": "verify", "put_back": put_back}}
    if may(record.state, "reopen"):
        lifecycle.advance(record, "reopen", {"replay_of": ctx.state.request.replay_of}, ctx.now, ctx.execution_id)
    selected = facts.get("select", {}).get("instance_id")
    ctx.audit(Reason.REPLAY_RESUMED, f"replaying remediation {record.remediation_id} from the start"
              + (f" on the same instance {selected}" if selected else ""), instance_id=selected, put_back=put_back)
    return {**state, "resume": {"next": "select", "put_back": put_back, "instance_id": selected}}


handler = resume_remediation
