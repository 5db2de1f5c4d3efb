"""steps/remediate/blockers.py serves_another_group against DescribeTargetHealth answers stated by hand (AWS's
TargetHealth states; docs/design.md "Instances shared by two groups"). The rule: registered in another
group's target group in any state but ``unused`` -> shared; every registration (port) counts."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from steps.aws import elbv2
from steps.core import groups
from steps.core.config import parse_groups
from steps.core.exceptions import AwsCallFailed, AwsThrottled
from steps.remediate import blockers

WEB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
API = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/fedcba9876543210"
JOBS = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/jobs/00112233445566ff"
INSTANCE = "i-0123456789abcdef0"
OTHER = "i-0fedcba9876543210"


class FakeElb:
    """Answers DescribeTargetHealth per target group ARN: a list of descriptions, or an error code to raise."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def describe_target_health(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer = self.answers.get(kwargs["TargetGroupArn"], [])
        if isinstance(answer, str):
            raise ClientError({"Error": {"Code": answer, "Message": answer},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "DescribeTargetHealth")
        return {"TargetHealthDescriptions": answer}


def target(instance: str, state: str, port: int = 80) -> dict[str, Any]:
    return {"Target": {"Id": instance, "Port": port}, "TargetHealth": {"State": state}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    document = parse_groups({"groups": [{"name": "web", "target_group_arns": [WEB]},
                                        {"name": "api", "target_group_arns": [API]},
                                        {"name": "jobs", "target_group_arns": [JOBS]}]})
    monkeypatch.setattr(groups, "load", lambda: document)

    def make(answers: dict[str, Any]) -> FakeElb:
        elb = FakeElb(answers)
        monkeypatch.setattr(elbv2, "client", lambda _service: elb)
        return elb

    make.group = document.group  # type: ignore[attr-defined]
    return make


# (the instance's registrations in api's target group, shared?) — each state from the ELBv2 TargetHealth
# reference: only `unused` (not registered / not in use) serves nothing.
CASES = [
    ([], False),
    ([target(OTHER, "healthy")], False),
    ([target(INSTANCE, "unused")], False),
    ([target(INSTANCE, "healthy")], True),
    ([target(INSTANCE, "initial")], True),
    ([target(INSTANCE, "unhealthy")], True),
    ([target(INSTANCE, "unavailable")], True),  # health checks disabled: still routed to
    ([target(INSTANCE, "draining")], True),  # in-flight requests until the deregistration delay ends
    ([target(INSTANCE, "unhealthy.draining")], True),  # NLB: keeps established connections, may turn healthy again
    ([target(INSTANCE, "healthy", 8080), target(INSTANCE, "draining", 80)], True),  # two ports, whichever comes last
    ([target(INSTANCE, "draining", 80), target(INSTANCE, "unused", 8080)], True),
]


@pytest.mark.parametrize(("registrations", "shared"), CASES)
def test_the_rule(fake: Any, registrations: list[dict[str, Any]], shared: bool) -> None:
    elb = fake({API: registrations})
    reason = blockers.serves_another_group(fake.group("web"), INSTANCE)
    assert (reason is not None) is shared, reason
    # every other group's target group was listed, unfiltered (a Targets filter names a port), never web's own
    assert sorted(c["TargetGroupArn"] for c in elb.calls) == sorted([API, JOBS]) or shared
    assert all("Targets" not in c for c in elb.calls)
    assert WEB not in [c["TargetGroupArn"] for c in elb.calls]


def test_the_reason_names_the_other_group_its_target_group_the_states_and_the_fix(fake: Any) -> None:
    fake({API: [target(INSTANCE, "healthy", 8080), target(INSTANCE, "draining", 80)]})
    reason = blockers.serves_another_group(fake.group("web"), INSTANCE)
    assert reason is not None
    assert "(healthy, draining)" in reason and "group 'api'" in reason and "in target group api," in reason
    assert f"move {API} into group 'web'" in reason and "merge" in reason


def test_a_target_group_that_no_longer_exists_serves_no_one(fake: Any) -> None:
    fake({API: "TargetGroupNotFound", JOBS: [target(INSTANCE, "healthy")]})
    reason = blockers.serves_another_group(fake.group("web"), INSTANCE)
    assert reason is not None and "group 'jobs'" in reason  # the next one is still checked


@pytest.mark.parametrize("code", ["AccessDenied", "ValidationError", "InvalidTarget"])
def test_any_other_refusal_fails_naming_what_was_checked_never_unshared(fake: Any, code: str) -> None:
    fake({API: code})
    with pytest.raises(AwsCallFailed, match=rf"checking whether {INSTANCE} also serves in group 'api' .*{code}"):
        blockers.serves_another_group(fake.group("web"), INSTANCE)


def test_throttling_is_raised_for_the_retry(fake: Any) -> None:
    fake({API: "Throttling"})
    with pytest.raises(AwsThrottled):
        blockers.serves_another_group(fake.group("web"), INSTANCE)


def test_a_single_group_makes_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    document = parse_groups({"groups": [{"name": "web", "target_group_arns": [WEB]}]})
    monkeypatch.setattr(groups, "load", lambda: document)
    elb = FakeElb({})
    monkeypatch.setattr(elbv2, "client", lambda _service: elb)
    assert blockers.serves_another_group(document.group("web"), INSTANCE) is None
    assert elb.calls == []
