"""The ports' clients (steps/aws/clients.py), the settings read once (steps/core/container.py) and the groups
declaration read through Powertools Parameters on the steps' clock (steps/core/groups.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from nightshift.runtime.interceptor import AwsError, Interceptor
from steps.aws import clients
from steps.core import clock, container, groups
from steps.core.config import Settings, parse_groups
from steps.core.exceptions import AwsThrottled, ConfigurationError
from steps.store.audit import AuditRecord
from steps.store.lifecycle import RemediationRecord
from steps.store.lock import GroupLock

PARAMETER = "/test/groups"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
DECLARATION = json.dumps({"groups": [{"name": "web", "target_group_arns": [TG]}]})


# -- clients -----------------------------------------------------------------------------------------------

def test_a_factory_makes_each_services_client_once() -> None:
    made: list[str] = []

    def factory(service: str) -> Any:
        made.append(service)
        return object()

    aws = clients.Aws(factory)
    assert aws.client("ec2") is aws.client("ec2")
    assert aws.client("ssm") is not aws.client("ec2")
    assert made == ["ec2", "ssm"]


def test_the_default_clients_make_one_attempt_with_the_timeouts() -> None:
    config = clients.Aws().client("ec2").meta.config
    assert config.retries["total_max_attempts"] == 1
    assert (config.connect_timeout, config.read_timeout) == (5, 20)


def test_the_default_clients_follow_a_new_default_session() -> None:
    """The local runtime sets up a new default session (with its interceptors) per run: the next client is
    made from it, with nothing to reset."""
    aws = clients.Aws()
    boto3.setup_default_session(region_name="us-east-1")
    first = aws.client("ssm")
    assert aws.client("ssm") is first
    boto3.setup_default_session(region_name="us-east-1")
    second = aws.client("ssm")
    assert second is not first
    assert second.meta.events is not first.meta.events


def test_bound_clients_serve_the_ports_for_the_block_only() -> None:
    fake = object()
    outside = clients.client("ssm")
    with clients.bound(clients.Aws({"ssm": fake}.__getitem__)):
        assert clients.client("ssm") is fake
        with pytest.raises(KeyError):
            clients.client("ec2")  # the bound factory knows ssm only
    assert clients.client("ssm") is outside


# -- settings ----------------------------------------------------------------------------------------------

def test_settings_read_every_variable_once() -> None:
    env = {"NIGHTSHIFT_LOCK_TABLE": "l", "NIGHTSHIFT_AUDIT_TABLE": "a", "NIGHTSHIFT_LIFECYCLE_TABLE": "r",
           "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2", "NIGHTSHIFT_GROUPS_PARAMETER": "/p",
           "NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN": "arn:sm", "NIGHTSHIFT_TOPIC_ARN": "arn:topic",
           "NIGHTSHIFT_EVENT_BUS": "bus"}
    assert Settings.from_env(env) == Settings(
        lock_table="l", audit_table="a", lifecycle_table="r", region="eu-west-1", groups_parameter="/p",
        remediate_state_machine_arn="arn:sm", topic_arn="arn:topic", event_bus="bus")
    assert Settings.from_env({"AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    empty = Settings.from_env({"NIGHTSHIFT_TOPIC_ARN": ""})
    assert (empty.lock_table, empty.audit_table, empty.lifecycle_table, empty.region, empty.topic_arn) == (
        "nightshift-locks", "nightshift-audit", "nightshift-remediations", "us-east-1", None)


def test_missing_settings_say_which_variable_to_set() -> None:
    with pytest.raises(ConfigurationError, match=r"set NIGHTSHIFT_GROUPS_PARAMETER .* or NIGHTSHIFT_GROUPS"):
        Settings().groups_source()
    with pytest.raises(ConfigurationError, match="NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN not set"):
        Settings().state_machine_arn()
    assert Settings(groups_inline="{}", groups_parameter="/p").groups_source() == ("inline", "{}")


def test_configured_settings_point_every_table_model_at_their_tables_and_back() -> None:
    before = {m: (m.Meta.table_name, m.Meta.region) for m in (GroupLock, AuditRecord, RemediationRecord)}
    stack = Settings(lock_table="s-locks", audit_table="s-audit", lifecycle_table="s-life", region="eu-west-1")
    with container.configured(stack):
        assert container.settings() is stack
        assert (GroupLock.Meta.table_name, AuditRecord.Meta.table_name, RemediationRecord.Meta.table_name) == (
            "s-locks", "s-audit", "s-life")
        assert {m.Meta.region for m in before} == {"eu-west-1"}
        assert GroupLock._get_connection().table_name == "s-locks"
        from steps.store import alarm_claims  # every model of the lock table, not only the lock's

        assert alarm_claims.AlarmClaim.Meta.table_name == "s-locks"
    assert {m: (m.Meta.table_name, m.Meta.region) for m in before} == before


def test_three_tables_must_be_three() -> None:
    before = container.settings()
    with pytest.raises(ValueError, match="three tables"):
        container.configure(Settings(lock_table="one", audit_table="one"))
    assert container.settings() is before and GroupLock.Meta.table_name == before.lock_table


# -- the groups declaration ------------------------------------------------------------------------------

class Ssm:
    """An SSM client whose GetParameter answers come from ``value`` (counted), on its own boto3 session."""

    def __init__(self) -> None:
        self.value = DECLARATION
        self.reads = 0
        session = boto3.session.Session(region_name="us-east-1")
        self.interceptor = Interceptor(session.events)
        self.interceptor.answer("ssm", "GetParameter", self.answer)
        self.aws = clients.Aws(clients.session_clients(session))

    def answer(self, params: dict[str, Any]) -> dict[str, Any]:
        assert params["Name"] == PARAMETER
        self.reads += 1
        return {"Parameter": {"Name": PARAMETER, "Type": "String", "Value": self.value, "Version": self.reads}}


@pytest.fixture
def ssm() -> Iterator[Ssm]:
    now = [1_800_000_000.0]
    fake = Ssm()
    clock.use(lambda: now[0])
    fake.advance = lambda seconds: now.__setitem__(0, now[0] + seconds)  # type: ignore[attr-defined]
    try:
        with clients.bound(fake.aws), container.configured(Settings(groups_parameter=PARAMETER)):
            yield fake
    finally:
        clock.reset()


def test_the_declaration_is_read_once_a_minute_on_the_steps_clock(ssm: Any) -> None:
    assert groups.group("web").target_group_arns == [TG]
    ssm.advance(59.9)
    assert groups.load().group("web").name == "web"
    assert ssm.reads == 1
    ssm.advance(0.1)  # 60 s after the read: read again
    groups.load()
    assert ssm.reads == 2


def test_reset_reads_the_declaration_as_it_is_now(ssm: Any) -> None:
    groups.load()
    ssm.value = json.dumps({"groups": [{"name": "api", "target_group_arns": [TG]}]})
    assert [g.name for g in groups.load().groups] == ["web"]  # cached
    groups.reset()
    assert [g.name for g in groups.load().groups] == ["api"]
    assert ssm.reads == 2


def test_a_cached_declaration_is_validated_once_per_read(ssm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    validations: list[object] = []
    real = groups.validate_groups

    def counted(raw: Any) -> Any:
        validations.append(raw)
        return real(raw)

    monkeypatch.setattr(groups, "validate_groups", counted)
    first = groups.load()
    assert groups.load() is first and groups.group("web").name == "web"
    assert len(validations) == 1  # three loads from one cached read: one validation
    ssm.advance(60)
    groups.load()
    assert (ssm.reads, len(validations)) == (2, 2)  # a new read is validated again


@pytest.mark.parametrize("value", ['{"groups": [', '{"groups": [{"name": "web"}]}', "[1]", '"text"'],
                         ids=["not-json", "invalid-field", "a-list", "a-string"])
def test_a_bad_declaration_fails_as_the_inline_one_does(ssm: Any, value: str) -> None:
    ssm.value = value
    with pytest.raises(ConfigurationError) as from_parameter:
        groups.load()
    with pytest.raises(ConfigurationError) as inline:
        parse_groups(value)
    assert str(from_parameter.value) == str(inline.value)
    assert str(from_parameter.value).startswith("groups declaration is ")


def test_a_throttled_read_is_named_for_the_state_machines_retry(ssm: Any) -> None:
    ssm.interceptor.inject("ssm", "GetParameter", AwsError("ThrottlingException", "Rate exceeded"), times=1)
    with pytest.raises(AwsThrottled, match=f"GetParameter {PARAMETER}: ThrottlingException"):
        groups.load()
    assert groups.group("web").name == "web"  # the next read succeeds


def test_an_answerer_added_later_answers_a_client_made_before_it() -> None:
    """botocore copies a session's handlers into a client when it is made: the runtime's fleet, added after
    a step's client exists, must still answer that client (no client needs remaking)."""
    session = boto3.session.Session(region_name="us-east-1")
    interceptor = Interceptor(session.events)
    ec2 = clients.session_clients(session)("ec2")
    interceptor.answer("ec2", "DescribeInstanceStatus", lambda params: {"InstanceStatuses": [
        {"InstanceId": params["InstanceIds"][0], "InstanceState": {"Code": 16, "Name": "running"}}]})
    described = ec2.describe_instance_status(InstanceIds=["i-0123456789abcdef0"])["InstanceStatuses"]
    assert [s["InstanceId"] for s in described] == ["i-0123456789abcdef0"]
    assert [(c.operation, c.params["InstanceIds"]) for c in interceptor.calls] == [
        ("DescribeInstanceStatus", ["i-0123456789abcdef0"])]
    interceptor.uninstall()
