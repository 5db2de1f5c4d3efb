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

# Let the state machine's Retry own back-off for longer outages; botocore only smooths blips.
_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=20)
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
