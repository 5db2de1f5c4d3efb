"""Step (replays only): make a failed remediation safe to continue, then say what is left to do.

1. Put back in service anything the failed run left out (it may have died mid-drain or mid-boot).
2. If an earlier attempt requested a reboot (or may have: a crash can hide a successful call), never
   reboot again: only verify the instance is healthy. Otherwise start over on the same instance.
3. A remediation that already ended (healthy, replaced, left out for a person) has nothing left to do.
"""

from __future__ import annotations

from typing import Any

from steps import put_back
from steps.domain.lifecycle import OUT_OF_SERVICE
from steps.entrypoint import StepContext, step
from steps.store import lifecycle
from steps.store.lifecycle import RemediationRecord

# Ended: nothing to replay. (Replaced by its ASG, or deliberately left out for a person.)
ENDED = frozenset({"healthy", "nothing_to_do", "no_metric_data", "planned", "replaced", "left_out"})


def _put_back(ctx: StepContext, record: RemediationRecord) -> list[str]:
    if not (record.facts or {}).get("deregister") or record.state not in [*OUT_OF_SERVICE, "verifying"]:
        return []
    result = put_back.put_back(record.facts or {})
    lifecycle.advance(record, "restore", {"error": "replayed", **result.numbers()}, ctx.now, ctx.execution_id)
    ctx.audit("RESTORED", f"replay put {result.instance_id} back in {len(result.target_groups)} target group(s) "
              "the failed run left it out of", instance_id=result.instance_id,
              replay_of=ctx.state.request.replay_of, **result.numbers())
    put_back.audit_standby(ctx, result)
    return result.target_groups


def reboot_may_have_happened(record: RemediationRecord) -> bool:
    reboot = (record.facts or {}).get("reboot")
    return isinstance(reboot, dict) and not reboot.get("refused")


@step
def resume_remediation(ctx: StepContext) -> dict[str, Any]:
    state = ctx.state.model_dump(mode="json", exclude_none=True)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if record.state in ENDED:
        ctx.audit("REPLAY_NOT_NEEDED", f"remediation {record.remediation_id} already ended {record.state}; "
                  "nothing to replay", lifecycle_state=record.state)
        return {**state, "resume": {"next": "done", "state": record.state}}
    put_back = _put_back(ctx, record)
    facts = record.facts or {}
    if reboot_may_have_happened(record) and record.state == "restored" and facts.get("deregister"):
        deregistration = facts["deregister"]
        lifecycle.advance(record, "reverify", {"replay_of": ctx.state.request.replay_of}, ctx.now,
                          ctx.execution_id)
        ctx.audit("REPLAY_VERIFY", f"{deregistration['instance_id']} was already asked to reboot in this "
                  "remediation: never again; verifying its health only", instance_id=deregistration["instance_id"],
                  reboot=facts.get("reboot"), put_back=put_back)
        return {**state, "deregistration": deregistration, "registration": {"at": ctx.now},
                "resume": {"next": "verify", "put_back": put_back}}
    if record.state in ("restored", "failed", "skipped"):
        lifecycle.advance(record, "reopen", {"replay_of": ctx.state.request.replay_of}, ctx.now, ctx.execution_id)
    selected = facts.get("select", {}).get("instance_id")
    ctx.audit("REPLAY_RESUMED", f"replaying remediation {record.remediation_id} from the start"
              + (f" on the same instance {selected}" if selected else ""), instance_id=selected, put_back=put_back)
    return {**state, "resume": {"next": "select", "put_back": put_back, "instance_id": selected}}


handler = resume_remediation
