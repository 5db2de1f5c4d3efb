"""The instance carries the exclude tag (`nightshift:exclude` by default): never touched."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts


def instance_excluded(spec: BlockerSpec, facts: Facts) -> Block | None:
    if spec.exclude_tag not in facts.instance_tags:
        return None
    return Block(Reason.SKIPPED_EXCLUDED, f"the instance is tagged {spec.exclude_tag}",
                 {"tag": spec.exclude_tag, "value": facts.instance_tags[spec.exclude_tag]})


BLOCKER = Blocker("instance_excluded", instance_excluded)
