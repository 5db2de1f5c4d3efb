"""The shared fixtures, one pytest plugin (registered in tests/conftest.py): every test directory gets them.

They are built by tests/harness.py, imported only when a fixture is first used (importing the local runtime
costs about 2 s, which the unit tests that need none do not pay).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import boto3

    from tests.harness import Direct, Harness, MakeHarness, MakeWorld, Steps, World


@pytest.fixture
def harness() -> Iterator[MakeHarness]:
    """``harness(spec, **group_overrides)``: the real ASL in moto against a simulated fleet (workflow, faults)."""
    from tests.harness import open_harness

    opened: list[Harness] = []

    def make(spec: Any = None, **group_overrides: Any) -> Harness:
        h = open_harness(spec, **group_overrides)
        opened.append(h)
        return h

    yield make
    for h in opened:
        h.rt.__exit__(None, None, None)


@pytest.fixture
def direct() -> Iterator[Direct]:
    """Handlers and stores called directly: moto with the tables, six quiet instances, no state machine."""
    from tests.harness import direct_session

    with direct_session() as made:
        yield made


@pytest.fixture
def direct_asg() -> Iterator[Direct]:
    """``direct`` with the fleet as one Auto Scaling group (MinSize 1, so Standby decrements)."""
    from tests.harness import ASG_FLEET, direct_session

    with direct_session(ASG_FLEET) as made:
        yield made


@pytest.fixture
def steps() -> Iterator[Steps]:
    """Step handlers called one by one, the state document carried along (tests/integration)."""
    from tests.harness import steps_session

    with steps_session() as made:
        yield made


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region (tests/conftest.py sets them for the process too), and moto without its
    ~1300 default AMIs (about 0.2 s a test; a simulated fleet needs none)."""
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def default_session() -> boto3.session.Session:
    """boto3's default session, set up once: a fresh session reloads every service model (~0.1 s a client)."""
    import boto3

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION


@pytest.fixture
def make_world(default_session: boto3.session.Session) -> Iterator[MakeWorld]:
    """``make_world(spec, start)``: the simulator alone behind real boto3 clients (tests/sim)."""
    from tests.harness import T0, simulated_world

    with ExitStack() as stack:
        def make(spec: Any = None, start: float = T0) -> World:
            return stack.enter_context(simulated_world(default_session, spec, start))

        yield make


@pytest.fixture
def world(make_world: MakeWorld) -> World:
    return make_world()
