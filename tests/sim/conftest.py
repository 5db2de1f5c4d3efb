"""Fixtures: a simulated fleet inside moto, answered through an interceptor on boto3's default session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import boto3
import pytest
from fleet_world import T0, MakeWorld, World, simulated_world

from nightshift.sim import FleetSpec


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # moto parses ~1300 default AMIs into every new EC2 backend (~0.2 s a test); the fleet needs none.
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def default_session() -> boto3.session.Session:
    """boto3's default session, set up once: a fresh session reloads every service model (~0.1 s a client)."""
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION


@pytest.fixture
def make_world(default_session: boto3.session.Session) -> Iterator[MakeWorld]:
    with ExitStack() as stack:
        def make(spec: FleetSpec | None = None, start: float = T0) -> World:
            return stack.enter_context(simulated_world(default_session, spec, start))

        yield make


@pytest.fixture
def world(make_world: MakeWorld) -> World:
    return make_world()
