"""Load the groups declaration: from the SSM parameter through Powertools Parameters (cached for
``CACHE_SECONDS``), or inline JSON (tests)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from steps.aws import elbv2
from steps.aws.clients import client
from steps.aws.errors import aws_call
from steps.core import clock, container
from steps.core.config import GroupConfig, GroupsDocument, parse_groups, validate_groups
from steps.core.exceptions import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

CACHE_SECONDS = 60
_lock = threading.Lock()
_provider: SSMProvider | None = None
# The last declaration validated, by the identity of the cached value it came from: Powertools hands back the
# same object until the cache expires, so a warm container validates (and warns about a deprecated key) once
# per fetch, not on every step.
_validated: tuple[object, GroupsDocument] | None = None


def _parameters() -> SSMProvider:
    """The Parameters provider over the container's SSM client; its cache lives as long as that client (the
    local runtime's next run makes a new one, with an empty cache)."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from aws_lambda_powertools.utilities.parameters.base import ExpirableValue

    class StepClockSSMProvider(SSMProvider):
        """Powertools measures a cached value's age in wall-clock time; this one in the steps' clock, which is
        the wall clock on AWS and the virtual clock in the local runtime (where a Wait takes no time)."""

        def has_not_expired_in_cache(self, key: tuple[Any, ...]) -> bool:
            return key in self.store and clock.now() < self.store[key].ttl.timestamp()

        def add_to_cache(self, key: tuple[Any, ...], value: Any, max_age: int) -> None:
            if max_age > 0:
                self.store[key] = ExpirableValue(value, datetime.fromtimestamp(clock.now() + max_age, UTC))

    global _provider
    ssm = client("ssm")
    with _lock:
        if _provider is None or _provider.client is not ssm:
            _provider = StepClockSSMProvider(boto3_client=ssm)
        return _provider


def _from_parameter(name: str) -> GroupsDocument:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    try:
        with aws_call(f"GetParameter {name}"):
            try:
                raw = _parameters().get(name, max_age=CACHE_SECONDS, transform="json")
            except GetParameterError as exc:  # Powertools wraps the botocore error: name it as the ASL expects
                raise (exc.__context__ or exc) from None
    except TransformParameterError as exc:
        raise ConfigurationError(f"groups declaration is not valid JSON: {exc.__cause__}") from exc
    global _validated
    with _lock:
        if _validated is not None and _validated[0] is raw:
            return _validated[1]
    document = validate_groups(raw)  # a broken declaration raises every time: nothing is kept
    with _lock:
        _validated = (raw, document)
    return document


def load() -> GroupsDocument:
    kind, source = container.settings().groups_source()
    return parse_groups(source) if kind == "inline" else _from_parameter(source)


def group(name: str) -> GroupConfig:
    return load().group(name)


def reset() -> None:
    """Forget the cached declaration: the next ``load`` reads the parameter as it is now."""
    global _validated
    with _lock:
        _validated = None
        if _provider is not None:
            _provider.clear_cache()  # type: ignore[no-untyped-call]


def group_of_instance(document: GroupsDocument, instance_id: str) -> GroupConfig | None:
    """The first declared group one of whose target groups holds ``instance_id`` (in any state), else None: how
    a trigger that names only an instance (an alarm's dimension, a lifecycle hook's event) finds its group."""
    for group in document.groups:
        states = elbv2.group_target_states(group.target_group_arns, [instance_id])
        if any(instance_id in members for members in states.values()):
            return group
    return None
