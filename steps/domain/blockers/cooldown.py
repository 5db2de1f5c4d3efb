"""The instance was rebooted less than `instance_cooldown_seconds` ago."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts, within


def instance_cooldown(spec: BlockerSpec, facts: Facts) -> Block | None:
    recent = within(facts.instance_reboots_at, facts.now.timestamp(), spec.instance_cooldown_seconds)
    if not recent:
        return None
    ago = facts.now.timestamp() - max(recent)
    return Block(Reason.SKIPPED_COOLDOWN, f"the instance was rebooted {ago:.0f} s ago; cooldown is "
                 f"{spec.instance_cooldown_seconds} s", {"last_reboot_seconds_ago": round(ago),
                                                          "cooldown_seconds": spec.instance_cooldown_seconds})


def _lookback(spec: BlockerSpec) -> float:
    return float(spec.instance_cooldown_seconds)


BLOCKER = Blocker("instance_cooldown", instance_cooldown, instance_history_seconds=_lookback)
