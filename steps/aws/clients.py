"""The boto3 clients the ports (steps/aws/*) call, made by a client factory the container is given.

``Aws`` holds one Lambda container's clients: each made once, on first use, by its factory. By default the
factory is boto3's default session with ``CONFIG``, and the clients belong to the default session in use
when they are made: the local runtime sets up a fresh default session, with its interceptors registered,
for each run (botocore copies a session's event hooks into a client when the client is made), so the next
client is made from it and nothing needs resetting. A test passes its own factory (fakes, a recording
client) for the calls inside ``with bound(Aws(factory)):``. The ports ask ``client(service)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import boto3
from botocore.config import Config

# One attempt per call: botocore's own retries would resend a mutating call after a read timeout or a 5xx
# (RebootInstances, StopInstances... take no client token: EC2 does not make them idempotent), out of sight of
# the steps' write-ahead records. Every retry goes through the state machine's Retry (with back-off) and the
# step's decision from recorded and observed state. The local runtime runs with AWS_MAX_ATTEMPTS=1 too.
CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=20)

ClientFactory = Callable[[str], Any]


def session_clients(session: boto3.session.Session) -> ClientFactory:
    """Clients of ``session`` with ``CONFIG``."""
    return lambda service: session.client(service, config=CONFIG)


def _default_session() -> boto3.session.Session:
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION


class Aws:
    """One container's clients, one per service, each made once by ``factory`` when first asked for.

    Without a factory: clients of boto3's default session with ``CONFIG``; when the default session is
    replaced (the local runtime's next run), the next client is made from the new one."""

    def __init__(self, factory: ClientFactory | None = None) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        with self._lock:
            if self._factory is None:
                session = _default_session()
                if session is not self._session:
                    self._session, self._clients = session, {}
                factory = session_clients(session)
            else:
                factory = self._factory
            if service not in self._clients:
                self._clients[service] = factory(service)
            return self._clients[service]


CONTAINER = Aws()  # this process's (the Lambda container's) clients, from boto3's default session
_bound: ContextVar[Aws | None] = ContextVar("nightshift_aws", default=None)


@contextmanager
def bound(aws: Aws) -> Iterator[Aws]:
    """Make the ports on this thread use ``aws`` until the block ends (tests: fakes, recording clients)."""
    token = _bound.set(aws)
    try:
        yield aws
    finally:
        _bound.reset(token)


def client(service: str) -> Any:
    """The client the ports call for ``service``: the bound ``Aws``'s, else the container's."""
    return (_bound.get() or CONTAINER).client(service)
