"""Load the groups declaration (SSM parameter or inline JSON), cached briefly per Lambda container."""

from __future__ import annotations

import threading

from steps import clock
from steps.aws.clients import client
from steps.aws.errors import aws_call
from steps.config import GroupConfig, GroupsDocument, Settings, parse_groups
from steps.exceptions import ConfigurationError

CACHE_SECONDS = 60.0
_lock = threading.Lock()
_cached: tuple[float, str, GroupsDocument] | None = None


def _read(settings: Settings) -> str:
    if settings.groups_inline:
        return settings.groups_inline
    if not settings.groups_parameter:  # Settings.from_env refuses neither being set; a hand-built Settings may
        raise ConfigurationError("environment: set NIGHTSHIFT_GROUPS_PARAMETER (an SSM parameter name) or "
                                 "NIGHTSHIFT_GROUPS (JSON)")
    with aws_call(f"GetParameter {settings.groups_parameter}"):
        response = client("ssm").get_parameter(Name=settings.groups_parameter)
    return str(response["Parameter"]["Value"])


def load() -> GroupsDocument:
    global _cached
    settings = Settings.from_env()
    source = settings.groups_inline or settings.groups_parameter or ""
    with _lock:
        if _cached and _cached[1] == source and clock.now() - _cached[0] < CACHE_SECONDS:
            return _cached[2]
    document = parse_groups(_read(settings))
    with _lock:
        _cached = (clock.now(), source, document)
    return document


def group(name: str) -> GroupConfig:
    return load().group(name)


def reset() -> None:
    global _cached
    with _lock:
        _cached = None
