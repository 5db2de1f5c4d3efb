"""Every workaround for what moto 5.2.5 lacks, in one place. Each names the gap it fills.

The fleet simulator (nightshift/sim) fills the AWS *behaviour* moto does not model (draining,
reboots, health checks, metrics, SSM output); this module fills gaps in moto's *engine*.
"""

from __future__ import annotations

import copy
import datetime
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.core.config import DefaultConfig
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from nightshift.runtime.clock import VirtualClock
from nightshift.runtime.scheduler import EventScheduler

# moto needs this config to execute ASL at all (otherwise executions just "succeed" with no work) and
# to keep Lambda out of Docker (our Lambda Tasks are answered in-process by the router).
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

_active: dict[str, VirtualClock | None] = {"clock": None}
# With LocalRuntime(scheduled=True): waits park the execution in discrete-event time (nightshift/runtime/scheduler.py).
_scheduler: dict[str, EventScheduler | None] = {"scheduler": None}
_original_wait = WaitFunction._wait_interval
_original_timestamp = EventManager._get_current_timestamp
_original_parse = AmazonStateLanguageParser.parse
_original_lambda_client = boto_client_for  # what lambda_eval_utils imports under that name


def _virtual_timestamp() -> datetime.datetime:
    # Gap: history events are stamped with the real time, so a 300 s Wait would look instantaneous in
    # the execution history. Stamp them with the virtual clock instead.
    clock = _active["clock"]
    if clock is None:
        return _original_timestamp()
    return datetime.datetime.fromtimestamp(clock.now(), tz=datetime.UTC)


def _virtual_wait(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
    # Gap: WaitFunction._wait_interval blocks the execution thread for the real number of seconds.
    clock = _active["clock"]
    if clock is None or not env.is_running():
        return
    if wait_seconds > 0:
        _pass_time(clock, wait_seconds)


def _pass_time(clock: VirtualClock, seconds: float) -> None:
    """Move the clock by ``seconds`` for this execution: with a scheduler, park it until then (other executions
    wait at the same time); without, move the clock by that much."""
    scheduler = _scheduler["scheduler"]
    if scheduler is not None:
        scheduler.sleep(seconds)
    else:
        clock.advance(seconds)


def _virtual_sleep(seconds: float) -> None:
    # Gap: RetrierDecl._eval_body calls time.sleep(interval) for Retry back-off.
    clock = _active["clock"]
    if clock is not None and seconds > 0:
        _pass_time(clock, seconds)


_original_sfn_params = StateTaskServiceSfn._normalise_parameters
_original_sfn_response = StateTaskServiceSfn._normalise_response


def _sfn_parameters(self: StateTaskServiceSfn, parameters: dict[str, Any], boto_service_name: str | None = None,
                    service_action_name: str | None = None) -> None:
    # Gap: moto's base _normalise_parameters is a no-op, so the ASL's StateMachineArn/Input/Name reach
    # boto3 unchanged and its serializer fails with KeyError 'StateMachineArn' (States.Runtime). AWS maps
    # the integration's PascalCase parameters to the API's camelCase ones.
    _original_sfn_params(self, parameters, boto_service_name, service_action_name)
    for key in list(parameters):
        if key[:1].isupper():
            parameters[key[0].lower() + key[1:]] = parameters.pop(key)


def _sfn_response(self: StateTaskService, response: Any, boto_service_name: str | None = None,
                  service_action_name: str | None = None) -> None:
    # Gap: the matching response normalisation is a no-op too, yet moto's own .sync resolvers read
    # submission_output["ExecutionArn"], and AWS returns ExecutionArn/Status/Output to the state.
    _original_sfn_response(self, response, boto_service_name, service_action_name)
    if isinstance(response, dict):
        for key in list(response):
            if key[:1].islower():
                response[key[0].upper() + key[1:]] = response.pop(key)


_DYNAMODB_WRITES = threading.RLock()


def serialize_dynamodb_writes() -> None:
    """Gap: moto checks a ConditionExpression and then writes, with nothing in between stopping another
    thread; DynamoDB makes a conditional write atomic. Two executions racing for the group lock could both
    win in moto (seen with 20 concurrent starts). Serialize moto's item writes, transactions included (the
    capacity ledger's reservations, steps/store/ledger.py). Idempotent."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_nightshift_serialized", False):
            continue

        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITES:
                return _original(self, *args, **kwargs)

        serialized._nightshift_serialized = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialized)


_PARSED: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_KEEP = 16  # definitions: the two machines, and the mutated copies `make mutation` runs one at a time


def _parse_once(definition: str) -> tuple[Any, Any]:
    """Gap (speed, not behaviour): moto's engine parses the definition with ANTLR on every StartExecution
    (~0.5 s of pure Python for remediate.asl.json, more than most executions spend running it). Parse each
    definition once; every execution still gets a program of its own (a deep copy, ~30 ms), so nothing one
    execution's evaluation leaves on the program reaches another."""
    with _PARSED_LOCK:
        parsed = _PARSED.get(definition)
        if parsed is not None:
            _PARSED.move_to_end(definition)
    if parsed is None:
        parsed = _original_parse(definition)  # raises for an invalid definition: nothing cached
        with _PARSED_LOCK:
            _PARSED[definition] = parsed
            while len(_PARSED) > _PARSED_KEEP:
                _PARSED.popitem(last=False)
    program, tree = parsed
    return copy.deepcopy(program), tree


_LAMBDA_CLIENTS: dict[tuple[int, str, str], Any] = {}


def _lambda_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """Gap (speed): moto's engine builds a new boto3 client (~10 ms) for every Lambda Task it runs. Keep one
    per boto3 default session (the runtime makes a new session, with its interceptors, per LocalRuntime)."""
    import boto3

    key = (id(boto3.DEFAULT_SESSION), region, service)
    client = _LAMBDA_CLIENTS.get(key)
    if client is None:
        client = _LAMBDA_CLIENTS[key] = _original_lambda_client(region, service, state_credentials)
    return client


def _swap_engine_globals(time_module: Any, client_for: Callable[..., Any]) -> None:
    """Replace two module globals moto's engine calls: ``time`` in retrier_decl (its Retry back-off sleeps)
    and ``boto_client_for`` in lambda_eval_utils (a new client per Lambda Task)."""
    # Both modules import these names without re-exporting them, so mypy's module type has no such attribute.
    retrier_decl.time = time_module  # type: ignore[attr-defined]  # moto-internal global, not exported
    lambda_eval_utils.boto_client_for = client_for  # type: ignore[attr-defined]  # moto-internal global


# moto's worker methods are untyped: called through these typed names.
_original_worker_start: Callable[[ExecutionWorker], None] = ExecutionWorker.start
_original_worker_logic: Callable[[ExecutionWorker], None] = ExecutionWorker._execution_logic
_original_eval_sync = StateTaskServiceCallback._eval_sync


def _counted_start(self: ExecutionWorker) -> None:
    # Scheduler: an execution is a unit from its start, counted on the starting thread (runtime/scheduler.py).
    scheduler = _scheduler["scheduler"]
    if scheduler is not None:
        scheduler.spawned()
        self._nightshift_scheduler = scheduler  # type: ignore[attr-defined]  # our mark on moto's worker
    try:
        _original_worker_start(self)
    except BaseException:
        if scheduler is not None:
            scheduler.finished()  # no thread will end it
        raise


def _counted_logic(self: ExecutionWorker) -> None:
    try:
        _original_worker_logic(self)
    finally:
        scheduler: EventScheduler | None = getattr(self, "_nightshift_scheduler", None)
        if scheduler is not None:
            scheduler.finished()


def _blocked_sync(self: StateTaskServiceCallback, *args: Any, **kwargs: Any) -> Any:
    # Scheduler: a .sync Task polls (in real time) for its child execution: the clock may move meanwhile.
    scheduler = _scheduler["scheduler"]
    if scheduler is None:
        return _original_eval_sync(self, *args, **kwargs)
    with scheduler.blocked():
        return _original_eval_sync(self, *args, **kwargs)


def install(clock: VirtualClock, scheduler: EventScheduler | None = None) -> None:
    """Make Wait states and Retry back-off advance ``clock`` instead of sleeping (with ``scheduler``: park the
    execution in discrete-event time, see nightshift/runtime/scheduler.py)."""
    _active["clock"] = clock
    _scheduler["scheduler"] = scheduler
    ExecutionWorker.start = _counted_start  # type: ignore[method-assign]
    ExecutionWorker._execution_logic = _counted_logic  # type: ignore[method-assign]
    StateTaskServiceCallback._eval_sync = _blocked_sync  # type: ignore[method-assign]
    serialize_dynamodb_writes()
    WaitFunction._wait_interval = _virtual_wait  # type: ignore[method-assign]
    _swap_engine_globals(SimpleNamespace(sleep=_virtual_sleep), _lambda_client)
    EventManager._get_current_timestamp = staticmethod(_virtual_timestamp)  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_parameters = _sfn_parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = _sfn_response  # type: ignore[method-assign]
    AmazonStateLanguageParser.parse = staticmethod(_parse_once)  # type: ignore[method-assign]
    _LAMBDA_CLIENTS.clear()


def quiet_engine_logs() -> None:
    """Gap: moto's engine logs every failed state (a caught, expected failure too) with a full dump
    of the state's parse tree at WARNING/ERROR. The execution history records failures; silence it."""
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


def uninstall() -> None:
    _active["clock"] = None
    _scheduler["scheduler"] = None
    ExecutionWorker.start = _original_worker_start  # type: ignore[method-assign]
    ExecutionWorker._execution_logic = _original_worker_logic  # type: ignore[method-assign]
    StateTaskServiceCallback._eval_sync = _original_eval_sync  # type: ignore[method-assign]
    WaitFunction._wait_interval = _original_wait  # type: ignore[method-assign]
    _swap_engine_globals(time, _original_lambda_client)  # retrier_decl's own `import time`
    EventManager._get_current_timestamp = staticmethod(_original_timestamp)  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_parameters = _original_sfn_params  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = _original_sfn_response  # type: ignore[method-assign]
    AmazonStateLanguageParser.parse = staticmethod(_original_parse)  # type: ignore[method-assign]
    _LAMBDA_CLIENTS.clear()


def execution_finished_probe(execution_arn: str) -> Callable[[], bool]:
    """A cheap "has this execution finished?" read of moto's own execution object (no request, no
    serialisation); one that always says no when the object cannot be found (then only DescribeExecution,
    which the caller still makes, can tell)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    parts = execution_arn.split(":")  # arn:aws:states:<region>:<account>:execution:<machine>:<name>
    try:
        backend = stepfunctions_parser_backends[parts[4]][parts[3]]
        machine = backend._get_state_machine_for_execution(execution_arn)
        execution = next(x for x in machine.executions if x.execution_arn == execution_arn)
    except Exception:  # any miss (a moto change): fall back to describing
        return lambda: False
    return lambda: getattr(execution, "exec_status", ExecutionStatus.RUNNING) != ExecutionStatus.RUNNING
