"""GIVEN an instance a remediation has taken out of its target groups WHEN another alarm about it arrives THEN the
alarm trigger still finds its group (issue 17 review: `make scale`'s 200 alarms failed this way).

An instance out of service for a remediation is in no target group (DeregisterTargets: it is ``unused`` once the
drain ends), so the group cannot be found from the target groups. The remediation's instance claim names the
group (the termination trigger already falls back to it). Failing instead makes the alarm trigger's invocation
fail: Lambda retries it, then the event lands in the dead-letter queue and pages, for an alarm that the running
remediation answers anyway.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nightshift.runtime.runner import LocalRuntime
from steps.store import claim
from tests.harness import runtime
from tests.workflow.test_triggers import alarm_event, executions, fleet, invoke_alarm

pytestmark = pytest.mark.workflow

HOLDER = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:first"


@pytest.fixture
def rt() -> Iterator[LocalRuntime]:
    with runtime() as made:
        yield made


def test_an_alarm_about_an_instance_a_remediation_took_out_starts_for_that_remediations_group(
        rt: LocalRuntime) -> None:
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    # a remediation of web holds the leaker and has deregistered it everywhere
    assert claim.acquire(leaker, HOLDER, "web", "first", rt.clock.now(), 7200, lambda _arn: "RUNNING").claimed
    elbv2 = rt.client("elbv2")
    for arn in built.target_group_arns:
        elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": leaker}])
    rt.clock.advance(3600)  # past every deregistration delay: the drain is over, the target is gone
    assert not any(t["Target"]["Id"] == leaker and t["TargetHealth"]["State"] != "unused"
                   for arn in built.target_group_arns
                   for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])
    outcome = invoke_alarm(alarm_event("nightshift-web-memory-2", leaker))
    assert outcome["started"] is True
    started = executions(rt)
    assert len(started) == 1
    described = rt.client("stepfunctions").describe_execution(executionArn=started[0]["executionArn"])
    assert '"group": "web"' in described["input"]
    # AND its validation accepts the instance (in no target group, but claimed for this group): the execution does
    # not fail (a FAILED execution pages); it changes nothing, the remediation holding the instance answers the alarm
    result = rt.wait(started[0]["executionArn"], timeout=300)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert not [c for c in rt.api_calls() if c.operation in ("RebootInstances", "RegisterTargets") and c.accepted]
