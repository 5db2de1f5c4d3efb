"""Answer the state machine's Lambda Tasks with the real handlers, in-process.

Gap in moto: without Docker its Lambda cannot run our code, so moto's Step Functions engine, which
calls Lambda through boto3, is answered here on ``before-call.lambda.Invoke``. A handler that raises
becomes a function error whose payload carries ``errorType``, so Retry and Catch match as on AWS.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.response import StreamingBody

from nightshift.functions import STEP_FUNCTIONS, Handler, StepFunction
from nightshift.runtime.interceptor import AwsError, Interceptor, SandboxDied, running

# A fault hook sees (function name, event) before the handler runs and may raise to fail the call;
# an "after" hook sees the result too (crash-after-the-AWS-call injection).
BeforeHook = Callable[[str, dict[str, Any]], None]
AfterHook = Callable[[str, dict[str, Any], dict[str, Any]], None]


@dataclass
class Invocation:
    function: str
    seconds: float
    error: str | None
    cpu_seconds: float = 0.0  # the handler thread's CPU time (moto's in-process answers included)


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a real Lambda context."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def catalogue_entry(function_name: str) -> StepFunction | None:
    """The step a function name stands for: ``nightshift-<name>`` in the local runtime, ``<stack>-<name>``
    in a stack deployed from infra/template.yaml. Strict: exactly one catalogue name may end the function
    name after a dash, otherwise the function is unknown (or ambiguous, which is an error)."""
    matches = [f for f in STEP_FUNCTIONS if function_name.endswith(f"-{f.name}")
               and len(function_name) > len(f.name) + 1]
    if len(matches) > 1:
        raise ValueError(f"function {function_name} matches several steps: {', '.join(f.name for f in matches)}")
    return matches[0] if matches else None


def _body(payload: dict[str, Any]) -> StreamingBody:
    raw = json.dumps(payload, default=str).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


class LambdaRouter:
    def __init__(self, region: str, account: str, advance: Callable[[float], object] | None = None,
                 step_seconds: float | None = None, step_cpu: bool = False) -> None:
        self.region = region
        # Handler time is real time on AWS too: the virtual clock moves by it (at least 1 ms), so
        # events of consecutive steps never share a timestamp. With ``step_seconds`` it moves by that fixed
        # amount instead, so a run does not depend on how fast this machine is (the property tests replay
        # an example exactly). With ``step_cpu`` it moves by the handler thread's CPU time: handlers of
        # concurrent executions share one interpreter lock here (each would have its own Lambda on AWS), so their
        # wall time grows with how many run at once, and their CPU time does not.
        self._advance = advance
        self._step_seconds = step_seconds
        self._step_cpu = step_cpu
        self.account = account
        self.invocations: list[Invocation] = []
        self.before: list[BeforeHook] = []
        self.after: list[AfterHook] = []
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.in_flight = 0  # handlers running now (the runtime waits for them when it closes)

    def arn(self, function_name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{function_name}"

    def install(self, interceptor: Interceptor) -> None:
        interceptor.answer("lambda", "Invoke", self._invoke)

    def _handler(self, name: str) -> Handler:
        with self._lock:
            if name not in self._handlers:
                entry = catalogue_entry(name)
                if entry is None:
                    raise AwsError("ResourceNotFoundException", f"Function not found: {self.arn(name)}", 404)
                self._handlers[name] = entry.handler()
            return self._handlers[name]

    def _invoke(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["FunctionName"]).split(":function:")[-1].split(":")[0]
        payload = params.get("Payload") or b"{}"
        event = json.loads(payload.decode() if isinstance(payload, bytes | bytearray) else payload)
        handler = self._handler(name)
        started = time.perf_counter()
        cpu_started = time.thread_time()
        error: str | None = None
        with self._lock:
            self.in_flight += 1
        try:
            for hook in self.before:
                hook(name, event)
            with running(name):  # AWS calls made now are this function's (fault targeting, the call record)
                result = handler(event, LambdaContext(name, invoked_function_arn=self.arn(name)))
            for after_hook in self.after:
                after_hook(name, event, result)
        except SandboxDied as died:  # the runtime died mid-handler (injected after an AWS call took effect)
            error = died.error_type
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                    "Payload": _body({"errorType": error, "errorMessage": str(died)})}
        except Exception as exc:  # every failure becomes a Lambda function error, as on AWS
            # Fault injection can impersonate Lambda's own errors (e.g. "Sandbox.Timedout").
            error = str(getattr(exc, "error_type", type(exc).__name__))
            # The payload AWS's Python runtime returns; the stack trace stays in the logs.
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                    "Payload": _body({"errorType": error, "errorMessage": str(exc)})}
        finally:
            elapsed = time.perf_counter() - started
            cpu = time.thread_time() - cpu_started
            with self._lock:
                self.invocations.append(Invocation(name, elapsed, error, cpu))
                self.in_flight -= 1
            if self._advance is not None:
                took = cpu if self._step_cpu else elapsed
                self._advance(self._step_seconds if self._step_seconds is not None else max(took, 0.001))
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": _body(result)}

    def handler_seconds(self) -> float:
        with self._lock:
            return sum(i.seconds for i in self.invocations)
