"""Answer chosen AWS API operations in-process, before botocore (or moto) sees them.

botocore emits ``before-parameter-build.<service>.<Op>`` with the caller's API parameters and
``before-call.<service>.<Op>`` just before sending. A ``before-call`` handler that returns
``(http_response, parsed_response)`` short-circuits the request: the client returns the parsed
response (or raises ``ClientError`` for a status >= 300) exactly as if AWS had answered. We stash the
API parameters in the per-request ``context`` in the first event and answer in the second, so
answerers see plain Python parameters, never a serialized body (JSON, query or CBOR). Both handlers are
registered once, when the interceptor is made, and look the answerers up per call: botocore copies a
session's handlers into each client when the client is made, so an answerer added later (a fleet added to a
running runtime) still answers the clients made before it.

The same emitter carries the fault injection and the call record (``Interceptor.calls``): a ``*.*``
handler records every answered call with the Lambda function that made it (``current_function()``, set by
the local router while a handler runs) and the HTTP status, and fails chosen calls before they take effect
(``inject``) or after (``inject_after``), optionally only within one function. PynamoDB builds its clients
from its own botocore session: ``attach`` puts the same handlers on such a client.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


_running = threading.local()


def current_function() -> str | None:
    """The Lambda function whose handler runs on this thread (the local runtime's router sets it)."""
    return getattr(_running, "function", None)


@contextmanager
def running(function: str | None) -> Iterator[None]:
    previous = current_function()
    _running.function = function
    try:
        yield
    finally:
        _running.function = previous


class SandboxDied(BaseException):
    """The Lambda sandbox died (``Lambda.Unknown``) or ran out of time (``Sandbox.Timedout``) mid-handler.

    A BaseException, so no step code can catch it: the handler stops where it is, as when the runtime is
    killed; the local router reports it as the function error Lambda would."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ApiCall:
    function: str | None  # the Lambda function that made it (None: the runtime, a test, the state machine)
    service: str  # botocore service id: ec2, elastic-load-balancing-v2, dynamodb, ssm, ...
    operation: str
    params: dict[str, Any]
    status: int  # the HTTP status answered; < 300: AWS accepted the call (its effect happened)

    @property
    def accepted(self) -> bool:
        return self.status < 300


@dataclass
class Fault:
    service: str
    operation: str
    phase: str  # before: AWS refuses the call; after: the call took effect, then the answer is lost
    function: str | None  # only while this function runs (None: any caller)
    times: int | None  # None: every matching call
    error: AwsError | None = None
    make_error: Callable[[], BaseException] | None = None
    fired: int = 0

    def matches(self, service: str, operation: str, function: str | None) -> bool:
        return (self.service == service and self.operation == operation
                and (self.function is None or self.function == function))

    def take(self) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


class Interceptor:
    """Registers answerers for ``(service_id, operation)`` pairs on one botocore event emitter.

    ``service_id`` is botocore's hyphenized service id: ``elastic-load-balancing-v2``, ``ec2``,
    ``cloudwatch``, ``ssm``, ``lambda``, ``sfn``, ``auto-scaling``. An answerer returning ``None``
    lets the call through to moto unchanged.
    """

    def __init__(self, events: BaseEventHooks) -> None:
        self._events = events
        self._answerers: dict[tuple[str, str], list[Answerer]] = {}
        self._dispatching: list[tuple[BaseEventHooks, str, Callable[..., Any], str]] = []
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.calls: list[ApiCall] = []  # every call answered (by AWS, moto, a simulator or a fault), in order
        self._dispatch_on(events)

    def answer(self, service_id: str, operation: str, answerer: Answerer) -> None:
        """Answer ``operation`` with ``answerer`` from now on, also on clients made before this call: the
        emitter's handlers were registered once, when the interceptor was made, and they look answerers up
        when a call comes (botocore copies a session's handlers into a client when the client is made)."""
        with self._lock:
            self._answerers.setdefault((service_id, operation), []).append(answerer)

    def inject(self, service_id: str, operation: str, error: AwsError, times: int | None = None,
               function: str | None = None) -> Fault:
        """Fail the next ``times`` calls (all calls when None) with ``error``, ahead of any answerer: AWS
        refused the call, nothing happened. ``function``: only calls made while that Lambda function runs."""
        fault = Fault(service_id, operation, "before", function, times, error=error)
        self.faults.append(fault)
        return fault

    def inject_before_raise(self, service_id: str, operation: str, make_error: Callable[[], BaseException],
                            times: int | None = None, function: str | None = None) -> Fault:
        """Raise ``make_error()`` in the caller instead of sending the next ``times`` calls (the Lambda
        sandbox timed out or died before the request left)."""
        fault = Fault(service_id, operation, "before", function, times, make_error=make_error)
        self.faults.append(fault)
        return fault

    def inject_after(self, service_id: str, operation: str, make_error: Callable[[], BaseException],
                     times: int | None = None, function: str | None = None) -> Fault:
        """Let the next ``times`` calls take effect, then raise ``make_error()`` to the caller.

        What a caller sees when AWS did the work but the answer never arrived (a read timeout, a
        connection reset, the Lambda killed right after the call): the effect happened, the caller cannot
        know it. botocore emits ``after-call`` once the response (real or answered) is parsed.
        """
        fault = Fault(service_id, operation, "after", function, times, make_error=make_error)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def attach(self, events: BaseEventHooks) -> None:
        """Record and fault the calls of a client built outside the default session (PynamoDB's own
        botocore session): register the same dispatch on that client's emitter."""
        self._dispatch_on(events)

    def _dispatch_on(self, events: BaseEventHooks) -> None:
        # "*.*" handlers at the operation's depth run before every operation-specific handler (botocore's
        # emitter: at one depth the wildcard node comes first), so faults land ahead of any answerer.
        for event, handler in (("before-parameter-build.*.*", self._stash), ("before-call.*.*", self._before),
                               ("after-call.*.*", self._after)):
            unique = f"nightshift-dispatch-{id(self)}-{event}"
            events.register_first(event, handler, unique_id=unique)
            self._dispatching.append((events, event, handler, unique))

    @staticmethod
    def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS_KEY] = dict(params)

    def _match(self, phase: str, event_name: str) -> Fault | None:
        _, service_id, operation = event_name.split(".", 2)
        running = current_function()
        with self._lock:
            for fault in self.faults:
                if fault.phase == phase and fault.matches(service_id, operation, running) and fault.take():
                    return fault
        return None

    def _before(self, event_name: str, context: dict[str, Any], **_: Any,
                ) -> tuple[AWSResponse, dict[str, Any]] | None:
        fault = self._match("before", event_name)
        if fault is not None:
            if fault.make_error is not None:
                raise fault.make_error()
            assert fault.error is not None
            return _http(fault.error.status), {"Error": {"Code": fault.error.code, "Message": fault.error.message},
                                               "ResponseMetadata": _metadata(fault.error.status)}
        service_id, operation = event_name.split(".", 2)[1:]
        with self._lock:
            answerers = list(self._answerers.get((service_id, operation), ()))
        for answerer in answerers:  # in the order they were added; the first answer wins
            try:
                parsed = answerer(context.get(_PARAMS_KEY, {}))
            except AwsError as err:
                return _http(err.status), {"Error": {"Code": err.code, "Message": err.message},
                                           "ResponseMetadata": _metadata(err.status)}
            if parsed is not None:
                parsed.setdefault("ResponseMetadata", _metadata(200))
                return _http(200), parsed
        return None

    def _after(self, event_name: str, http_response: AWSResponse, context: dict[str, Any], **_: Any) -> None:
        service_id, operation = event_name.split(".", 2)[1:]
        call = ApiCall(current_function(), service_id, operation, dict(context.get(_PARAMS_KEY) or {}),
                       int(http_response.status_code))
        with self._lock:
            self.calls.append(call)
        fault = self._match("after", event_name) if call.accepted else None
        if fault is not None:
            assert fault.make_error is not None
            raise fault.make_error()

    def uninstall(self) -> None:
        with self._lock:
            self._answerers.clear()
        for events, event, handler, unique in self._dispatching:
            events.unregister(event, handler, unique_id=unique)
        self._dispatching.clear()
        self.faults.clear()
