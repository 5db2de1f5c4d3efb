"""One name for the blockers: the groups key ``blockers`` (``guards``, its old name, still accepted with a
warning), and the shared context that reads each fact the blockers need through the ports once."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from steps.aws import alarms, autoscaling, ec2
from steps.aws.autoscaling import Membership
from steps.core import clock
from steps.core.config import GroupConfig, parse_groups
from steps.core.exceptions import ConfigurationError
from steps.domain.blockers import blocking
from steps.remediate import blockers
from steps.store import audit, pause

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"
T = 1_795_000_000.0


def group(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "target_group_arns": [ARN], **fields}


def test_the_key_is_blockers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = parse_groups({"groups": [group(blockers={"instance_cooldown_seconds": 60})]})
    assert config.groups[0].blockers.instance_cooldown_seconds == 60
    assert "deprecated" not in caplog.text


def test_the_old_key_guards_is_still_read_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = parse_groups({"groups": [group(guards={"instance_cooldown_seconds": 60,
                                                        "blocking_alarms": ["deploy"]})]})
    [web] = config.groups
    assert web.blockers.instance_cooldown_seconds == 60 and web.blockers.blocking_alarms == ["deploy"]
    assert "group 'web': the key 'guards' is deprecated, rename it 'blockers'" in caplog.text


def test_both_keys_are_refused_naming_both() -> None:
    with pytest.raises(ConfigurationError) as error:
        parse_groups({"groups": [group(guards={}, blockers={})]})
    assert "guards: the old name of blockers; both are given" in str(error.value)


def test_the_schema_names_blockers() -> None:
    properties = GroupConfig.model_json_schema()["properties"]
    assert "blockers" in properties and "guards" not in properties


@dataclass
class Record:
    at: float
    event: str
    remediation_id: str = ""
    execution_id: str = ""
    sk: str = ""


@dataclass
class Ports:
    calls: Counter[str]
    group_since: list[float | None]


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Ports:
    """Every port the context reads, answered by hand and counted."""
    seen = Ports(Counter(), [])

    def count(name: str, answer: Any) -> Any:
        def port(*args: Any, **kwargs: Any) -> Any:
            seen.calls[name] += 1
            if name == "for_group":
                seen.group_since.append(kwargs.get("since"))
            return answer() if callable(answer) else answer
        return port

    monkeypatch.setattr(clock, "_source", lambda: T)
    monkeypatch.setattr(audit, "for_group", count("for_group", lambda: iter(
        [Record(T - 100, "REBOOT_REQUESTED"), Record(T - 50, "FAILED", "r1")])))
    monkeypatch.setattr(audit, "for_instance", count("for_instance", lambda: iter(
        [Record(T - 100, "REBOOT_REQUESTED"), Record(T - 2 * 86400, "REBOOT_REQUESTED")])))
    monkeypatch.setattr(pause, "paused", count("paused", None))
    monkeypatch.setattr(ec2, "instance_tags", count("instance_tags", {}))
    monkeypatch.setattr(alarms, "in_alarm", count("in_alarm", []))
    monkeypatch.setattr(autoscaling, "membership", count("membership", Membership("asg", "InService", "Healthy")))
    monkeypatch.setattr(autoscaling, "activity_in_progress", count("activity_in_progress", []))
    return seen


def test_each_fact_is_read_once_however_many_blockers_need_it(ports: Ports) -> None:
    config = GroupConfig.model_validate(group(blockers={"group_min_gap_seconds": 7200, "instance_cooldown_seconds": 60,
                                                       "storm": {"window_seconds": 3600}}))
    context = blockers.Context(config, "i-1")
    found = blocking(config.blockers, context)
    assert blockers.reboots_in(context, blockers.DAY_SECONDS) == 1  # the one two days ago is outside the day
    # Only the group gap (2 h) blocks: the group was remediated 100 s ago (cooldown 60 s; storm: 1 and 1 < 3, 2).
    assert [(b.code, b.numbers) for b in found] == [("SKIPPED_COOLDOWN", {"group_min_gap_seconds": 7200})]
    assert ports.calls == {"for_group": 1, "for_instance": 1, "paused": 1, "instance_tags": 1, "in_alarm": 1,
                           "membership": 1, "activity_in_progress": 1}
    # The group's history is read back as far as the widest window of the blockers that read it (the 2 h gap).
    assert ports.group_since == [T - 7200]


def test_no_auto_scaling_call_when_it_is_off(ports: Ports) -> None:
    config = GroupConfig.model_validate(group(auto_scaling={"enabled": False},
                                              blockers={"instance_cooldown_seconds": 0}))
    assert blocking(config.blockers, blockers.Context(config, "i-1")) == []
    assert ports.calls["membership"] == 0 and ports.calls["activity_in_progress"] == 0
    assert ports.calls["for_group"] == 1 and ports.group_since == [T - 6 * 3600]  # the storm window, by default


def test_the_histories_reach_back_as_far_as_the_widest_blocker_window() -> None:
    from steps.core.config import BlockerSpec
    from steps.domain.blockers import group_history_seconds, instance_history_seconds

    def spec(**fields: Any) -> BlockerSpec:
        return BlockerSpec.model_validate(fields)

    assert group_history_seconds(spec(storm={"window_seconds": 3600}, group_min_gap_seconds=7200)) == 7200
    assert group_history_seconds(spec(storm={"window_seconds": 7200}, group_min_gap_seconds=60)) == 7200
    assert group_history_seconds(spec()) == 6 * 3600  # the storm window by default; no gap
    assert instance_history_seconds(spec(instance_cooldown_seconds=7 * 86400)) == 7 * 86400
    assert instance_history_seconds(spec(instance_cooldown_seconds=0)) == 0
