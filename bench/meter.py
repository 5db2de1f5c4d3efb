"""The bench's instruments: which AWS calls each step makes, and how much time and CPU each step takes.

* AWS API calls are counted with a botocore event hook on boto3's default session
  (``provide-client-params``, the first event of every call, emitted to every handler). Every step client
  and every client moto's Step Functions engine creates comes from that session, so the hook sees them
  all. It must be registered before those clients exist (botocore copies a session's hooks into a client
  when the client is created): ``install`` runs right after the runtime starts, before ``add_fleet``
  rebuilds the step clients.
* PynamoDB (the lock, audit and lifecycle tables) uses a botocore session of its own, which no hook on
  boto3's session can see; its calls are counted by wrapping ``pynamodb.connection.base.Connection.
  _make_api_call`` (one place, every DynamoDB request a step makes).
* Each call is attributed to the Lambda step running on the calling thread, known from the local
  runtime's router hooks (``router.before`` / ``router.after``), or to an explicit phase for code the
  router does not run (the baseline).
* CPU time of a step is ``time.thread_time()`` on the handler's own thread: the runtime polls the
  execution from another thread, and ``time.process_time()`` (also recorded) would charge that polling to
  the step. Time spent inside AWS calls (served in-process by moto and the fleet simulator, i.e. what
  AWS's servers would spend) is measured from ``provide-client-params`` to ``after-call``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from nightshift.sim.call_rate import CallTimeline

ENGINE = "(state machine)"  # calls moto's engine makes itself (Lambda Invoke, the lock's deleteItem)
OUTSIDE = "(outside)"  # calls made outside any step or phase (the bench's own reads)

# botocore's hyphenized service ids, shortened to the client names people type.
SHORT = {"elastic-load-balancing-v2": "elbv2", "cloudwatch": "cloudwatch", "ec2": "ec2", "ssm": "ssm",
         "sfn": "stepfunctions", "lambda": "lambda", "dynamodb": "dynamodb", "auto-scaling": "autoscaling"}


@dataclass
class Call:
    step: str
    operation: str  # "<client>.<Operation>"
    metrics: int = 0  # GetMetricData: queries in the call (CloudWatch bills per metric requested)


@dataclass
class StepTiming:
    step: str
    wall: float
    thread_cpu: float
    process_cpu: float
    in_aws_calls: float  # wall time spent inside AWS calls made by the step
    # thread CPU spent inside AWS calls: moto and the simulator answering in-process, what AWS's servers do
    cpu_in_aws_calls: float = 0.0

    @property
    def own_cpu(self) -> float:
        """The step's own CPU: what its Lambda would spend (the in-process AWS answers excluded)."""
        return max(0.0, self.thread_cpu - self.cpu_in_aws_calls)


@dataclass
class _ThreadState:
    step: str | None = None
    started: tuple[float, float, float] | None = None
    aws_seconds: float = 0.0
    aws_cpu: float = 0.0
    call_started: list[float] = field(default_factory=list)
    call_cpu_started: list[float] = field(default_factory=list)


class ApiMeter:
    def __init__(self, timeline: CallTimeline | None = None, clock: Callable[[], float] | None = None) -> None:
        self.calls: list[Call] = []
        # With a timeline, every call is also recorded at the clock's instant (``install`` takes the runtime's
        # virtual clock when none is given): calls per minute and peaks per API for nightshift.sim.call_rate,
        # Step Functions, Lambda and DynamoDB included, which the fleet simulator's own timeline never sees.
        self.timeline = timeline
        self._clock = clock
        self.timings: list[StepTiming] = []
        self.on_call: list[Callable[[], None]] = []  # e.g. keep a virtual Lambda's clock in step
        self._local = threading.local()
        self._lock = threading.Lock()
        self._events: Any = None
        self._pynamodb_original: Any = None

    # -- installation ------------------------------------------------------------------------------
    def install(self, rt: Any) -> None:
        """Hook boto3's default session, PynamoDB, and the runtime's Lambda router."""
        assert boto3.DEFAULT_SESSION is not None, "install inside a started LocalRuntime"
        self._events = boto3.DEFAULT_SESSION.events
        self._events.register("provide-client-params", self._call_started, unique_id="nightshift-bench-meter-start")
        self._events.register("after-call", self._call_finished, unique_id="nightshift-bench-meter-end")
        self._wrap_pynamodb()
        if self._clock is None:
            self._clock = rt.clock.now
        rt.router.before.append(self._step_started)
        rt.router.after.append(self._step_finished)

    def uninstall(self) -> None:
        if self._events is not None:
            self._events.unregister("provide-client-params", unique_id="nightshift-bench-meter-start")
            self._events.unregister("after-call", unique_id="nightshift-bench-meter-end")
            self._events = None
        if self._pynamodb_original is not None:
            from pynamodb.connection import base

            base.Connection._make_api_call = self._pynamodb_original  # type: ignore[method-assign]
            self._pynamodb_original = None

    def _wrap_pynamodb(self) -> None:
        from pynamodb.connection import base

        original = base.Connection._make_api_call
        meter = self

        def counted(connection: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
            meter._record("dynamodb", operation_name, 0)
            return original(connection, operation_name, operation_kwargs)

        self._pynamodb_original = original
        base.Connection._make_api_call = counted  # type: ignore[method-assign,assignment]

    # -- attribution ---------------------------------------------------------------------------------
    def _state(self) -> _ThreadState:
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = _ThreadState()
        return state

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute calls on this thread to ``name`` (code the router does not run, e.g. the baseline)."""
        self._begin(name)
        try:
            yield
        finally:
            self._end(name)

    def switch_phase(self, name: str | None) -> None:
        """End this thread's current phase (if any) and start ``name`` (None: just end it)."""
        state = self._state()
        if state.step is not None:
            self._end(state.step)
        if name is not None:
            self._begin(name)

    def _begin(self, step: str) -> None:
        state = self._state()
        state.step = step
        state.aws_seconds = 0.0
        state.aws_cpu = 0.0
        state.started = (time.perf_counter(), time.thread_time(), time.process_time())

    def _end(self, step: str) -> None:
        state = self._state()
        if state.started is not None:
            wall0, thread0, process0 = state.started
            timing = StepTiming(step, time.perf_counter() - wall0, time.thread_time() - thread0,
                                time.process_time() - process0, state.aws_seconds, state.aws_cpu)
            with self._lock:
                self.timings.append(timing)
        state.step = None
        state.started = None

    def _step_started(self, name: str, _event: dict[str, Any]) -> None:
        self._begin(name)

    def _step_finished(self, name: str, _event: dict[str, Any], _result: dict[str, Any]) -> None:
        self._end(name)

    def _attribution(self) -> str:
        state = self._state()
        if state.step is not None:
            return state.step
        return OUTSIDE if threading.current_thread() is threading.main_thread() else ENGINE

    def _record(self, service: str, operation: str, metrics: int) -> None:
        step = self._attribution()
        with self._lock:
            self.calls.append(Call(step, f"{service}.{operation}", metrics))
            if self.timeline is not None and self._clock is not None:
                self.timeline.record(f"{service}.{operation}", self._clock())

    def _call_started(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = SHORT.get(model.service_model.service_id.hyphenize(), model.service_model.service_id.hyphenize())
        state = self._state()
        if service == "lambda" and model.name == "Invoke":
            # The engine invoking the next step: whatever ran before on this thread is over (a step that
            # raised never reached router.after).
            state.step = None
            state.started = None
        metrics = len(params.get("MetricDataQueries") or []) if model.name == "GetMetricData" else 0
        self._record(service, model.name, metrics)
        state.call_started.append(time.perf_counter())
        state.call_cpu_started.append(time.thread_time())
        for hook in self.on_call:
            hook()

    def _call_finished(self, **_: Any) -> None:
        state = self._state()
        if state.call_started:
            state.aws_seconds += time.perf_counter() - state.call_started.pop()
        if state.call_cpu_started:
            state.aws_cpu += time.thread_time() - state.call_cpu_started.pop()

    # -- reading -------------------------------------------------------------------------------------
    def by_operation(self, step: str | None = None) -> Counter[str]:
        with self._lock:
            return Counter(c.operation for c in self.calls if step is None or c.step == step)

    def metrics_requested(self, step: str | None = None) -> int:
        with self._lock:
            return sum(c.metrics for c in self.calls if step is None or c.step == step)

    def timing(self, step: str) -> list[StepTiming]:
        with self._lock:
            return [t for t in self.timings if t.step == step]
