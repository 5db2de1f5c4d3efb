"""Answer chosen AWS API operations in-process, before botocore (or moto) sees them.

botocore emits ``before-parameter-build.<service>.<Op>`` with the caller's API parameters and
``before-call.<service>.<Op>`` just before sending. A ``before-call`` handler that returns
``(http_response, parsed_response)`` short-circuits the request: the client returns the parsed
response (or raises ``ClientError`` for a status >= 300) exactly as if AWS had answered. We stash the
API parameters in the per-request ``context`` in the first event and answer in the second, so
answerers see plain Python parameters, never a serialized body (JSON, query or CBOR).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.hooks import BaseEventHooks

_PARAMS_KEY = "nightshift_api_params"

Answerer = Callable[[dict[str, Any]], dict[str, Any] | None]


class AwsError(Exception):
    """Raise from an answerer to make the client raise ``ClientError`` with this code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _http(status: int) -> AWSResponse:
    return AWSResponse(url="https://nightshift.local/", status_code=status, headers={}, raw=None)


def _metadata(status: int) -> dict[str, Any]:
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


class Interceptor:
    """Registers answerers for ``(service_id, operation)`` pairs on one botocore event emitter.

    ``service_id`` is botocore's hyphenized service id: ``elastic-load-balancing-v2``, ``ec2``,
    ``cloudwatch``, ``ssm``, ``lambda``, ``sfn``, ``auto-scaling``. An answerer returning ``None``
    lets the call through to moto unchanged.
    """

    def __init__(self, events: BaseEventHooks) -> None:
        self._events = events
        self._registered: list[tuple[str, Callable[..., Any], str]] = []

    def answer(self, service_id: str, operation: str, answerer: Answerer) -> None:
        def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context[_PARAMS_KEY] = dict(params)

        def respond(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            params = context.get(_PARAMS_KEY, {})
            try:
                parsed = answerer(params)
            except AwsError as err:
                return _http(err.status), {
                    "Error": {"Code": err.code, "Message": err.message},
                    "ResponseMetadata": _metadata(err.status),
                }
            if parsed is None:
                return None
            parsed.setdefault("ResponseMetadata", _metadata(200))
            return _http(200), parsed

        unique = f"nightshift-{service_id}-{operation}-{id(answerer)}"
        for event, handler in (
            (f"before-parameter-build.{service_id}.{operation}", stash),
            (f"before-call.{service_id}.{operation}", respond),
        ):
            self._events.register(event, handler, unique_id=f"{unique}-{event}")
            self._registered.append((event, handler, f"{unique}-{event}"))

    def inject(self, service_id: str, operation: str, error: AwsError, times: int | None = None) -> None:
        """Fail the next ``times`` calls (all calls when None) with ``error``, ahead of any answerer."""
        remaining = {"n": times}

        def fail(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            if remaining["n"] is not None:
                if remaining["n"] <= 0:
                    return None
                remaining["n"] -= 1
            return _http(error.status), {"Error": {"Code": error.code, "Message": error.message},
                                         "ResponseMetadata": _metadata(error.status)}

        event = f"before-call.{service_id}.{operation}"
        unique = f"nightshift-fault-{service_id}-{operation}-{id(fail)}"
        self._events.register_first(event, fail, unique_id=unique)
        self._registered.append((event, fail, unique))

    def inject_after(self, service_id: str, operation: str, make_error: Callable[[], Exception],
                     times: int | None = None) -> None:
        """Let the next ``times`` calls take effect, then raise ``make_error()`` to the caller.

        What a caller sees when AWS did the work but the answer never arrived (a read timeout, a
        connection reset, the Lambda killed right after the call): the effect happened, the caller cannot
        know it. botocore emits ``after-call`` once the response (real or answered) is parsed.
        """
        remaining = {"n": times}

        def lose_answer(**_: Any) -> None:
            if remaining["n"] is not None:
                if remaining["n"] <= 0:
                    return
                remaining["n"] -= 1
            raise make_error()

        event = f"after-call.{service_id}.{operation}"
        unique = f"nightshift-lost-{service_id}-{operation}-{id(lose_answer)}"
        self._events.register_first(event, lose_answer, unique_id=unique)
        self._registered.append((event, lose_answer, unique))

    def uninstall(self) -> None:
        for event, handler, unique in self._registered:
            self._events.unregister(event, handler, unique_id=unique)
        self._registered.clear()
