"""boto3 clients, created once per Lambda container and injectable.

Clients are created on first use rather than at import: the local runtime installs its interceptors
on boto3's default session before any client exists (botocore copies a session's event hooks into a
client when the client is created), and tests swap clients with ``use``.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

# One attempt per call: botocore's own retries would resend a mutating call after a read timeout or a 5xx
# (RebootInstances, StopInstances... take no client token: EC2 does not make them idempotent), out of sight of
# the steps' write-ahead records. Every retry goes through the state machine's Retry (with back-off) and the
# step's decision from recorded and observed state. The local runtime runs with AWS_MAX_ATTEMPTS=1 too.
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=20)
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.client(service, config=_CONFIG)
        return _clients[service]


def use(service: str, instance: Any) -> None:
    """Inject a client (tests, the local runtime)."""
    with _lock:
        _clients[service] = instance


def reset() -> None:
    with _lock:
        _clients.clear()
