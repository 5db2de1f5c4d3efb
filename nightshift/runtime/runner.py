"""The local runtime: our real ASL, executed by moto's Step Functions engine, with the real handlers.

    with LocalRuntime() as rt:
        fleet = rt.add_fleet(FleetSpec())          # simulated EC2 + ELBv2 + CloudWatch + SSM
        rt.declare_groups([fleet.group_declaration()])
        arn = rt.start({"group": "web"})
        result = rt.wait(arn)

Nothing here needs AWS credentials or a network; a 300 s Wait costs no real time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3
from moto import mock_aws

from nightshift.functions import STEP_FUNCTIONS
from nightshift.runtime import moto_gaps
from nightshift.runtime.clock import VirtualClock
from nightshift.runtime.interceptor import ApiCall, AwsError, Fault, Interceptor, SandboxDied
from nightshift.runtime.lambda_router import LambdaRouter
from nightshift.runtime.scheduler import EventScheduler

if TYPE_CHECKING:
    from steps.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
STATEMACHINE_DIR = ROOT / "statemachine"
# Where the runtime reads the ASL from; `make mutation` points it at mutated copies (nightshift/mutate_asl.py).
ASL_DIR_VARIABLE = "NIGHTSHIFT_ASL_DIR"
ACCOUNT = "123456789012"
GROUPS_PARAMETER = "/nightshift/groups"
STATE_MACHINES = ("remediate", "sweep", "drain")
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    # botocore's own retries sleep in real time; with one attempt, every transient fault reaches the
    # state machine's Retry, which backs off in virtual time (and is what the fault tests exercise).
    "AWS_MAX_ATTEMPTS": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "Nightshift",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def substitutions(router: LambdaRouter, lock_table: str) -> dict[str, str]:
    """What DefinitionSubstitutions supplies on AWS."""
    values = {f.placeholder: router.arn(f"nightshift-{f.name}") for f in STEP_FUNCTIONS if f.placeholder}
    values["LockTableName"] = lock_table
    return values


def render_definition(path: Path, values: dict[str, str]) -> str:
    text = path.read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        start = text.index("${")
        raise ValueError(f"{path.name}: no substitution for {text[start:text.index('}', start) + 1]}")
    return text


def _step_log_handler() -> logging.StreamHandler[Any]:
    """The stream handler of the steps' Powertools logger, which LocalRuntime(log_stream=...) redirects."""
    from steps.core.observability import logger

    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        raise TypeError(f"the step logger's handler is a {type(handler).__name__}, not a StreamHandler: "
                        "LocalRuntime(log_stream=...) cannot redirect it")
    return handler


_LOADER: Any = None  # botocore's data loader, shared by every runtime's session in this process


def _botocore_session() -> Any:
    """A fresh botocore session (its own event hooks, so interceptors never outlive a runtime) that shares one
    data loader with every earlier one in this process: the service models, endpoints and partitions are read
    and parsed once, not by every runtime (about 0.1 s per client and 0.2 s per endpoint resolver otherwise;
    the models do not change while a process runs)."""
    import botocore.loaders
    import botocore.session

    global _LOADER
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    session = botocore.session.get_session()
    session.register_component("data_loader", _LOADER)
    return session


def _dedupe_search_paths() -> None:
    """boto3 appends its resource data path to the loader on every new session: keep the shared list short."""
    paths = _LOADER.search_paths
    paths[:] = list(dict.fromkeys(paths))


def _standing_still() -> float:
    return 0.0


DESCRIBE_EVERY = 0.1  # seconds of real time between two DescribeExecution calls of follow()


class LocalRuntime:
    def __init__(self, region: str = "us-east-1", clock: VirtualClock | None = None,
                 log_stream: IO[str] | None = None, provision: bool = True,
                 step_seconds: float | None = None, scheduled: bool = False) -> None:
        self.region = region
        # provision=False: create neither the tables nor the state machines; a stack deployed from
        # infra/template.yaml into this runtime's moto brings its own (tests/infra/test_deploy.py).
        self.provision = provision
        self.clock = clock or VirtualClock()
        # scheduled: concurrent executions wait at the same time (discrete-event time, nightshift/runtime/
        # scheduler.py), and a Lambda step lasts its handler's CPU time; without, every wait moves the one clock
        # by its own length, so concurrent executions' waits add up (fine for tests of what happens, not for
        # measuring how long concurrent remediations take).
        self.scheduler: EventScheduler | None = EventScheduler(self.clock) if scheduled else None
        # step_seconds: each Lambda step costs this much virtual time instead of its real time (repeatable runs)
        advance = self.scheduler.sleep if self.scheduler is not None else self.clock.advance
        self.router = LambdaRouter(region, ACCOUNT, advance=advance, step_seconds=step_seconds,
                                   step_cpu=scheduled)
        self.log_stream = log_stream
        self.metrics: list[dict[str, Any]] = []  # EMF blobs the steps emitted
        self.state_machines: dict[str, str] = {}
        self.fleets: list[Any] = []
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._previous_settings: Settings | None = None
        self.settings: Settings  # what the steps run with (set on entering)
        self.interceptor: Interceptor | None = None
        self._previous_stream: IO[str] | None = None
        self._saved_list_clock: Any = None

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        from steps.core import container
        from steps.core.config import Settings

        env = {**_ENV, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
               "NIGHTSHIFT_GROUPS_PARAMETER": GROUPS_PARAMETER}  # for the CLI run against this runtime
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._saved_env["NIGHTSHIFT_GROUPS"] = os.environ.pop("NIGHTSHIFT_GROUPS", None)
        self._saved_env["NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN"] = os.environ.get(
            "NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN")
        # The steps' settings, as a function's environment would give them (the default table names).
        self._previous_settings = container.settings()
        self.settings = Settings(region=self.region, groups_parameter=GROUPS_PARAMETER)
        container.configure(self.settings)
        self._mock = mock_aws(config=moto_gaps.MOTO_CONFIG)
        self._mock.start()
        # A fresh default session: moto's engine and our steps both create their clients from it,
        # after our interceptors are registered on it.
        boto3.setup_default_session(region_name=self.region, botocore_session=_botocore_session())
        assert boto3.DEFAULT_SESSION is not None
        _dedupe_search_paths()
        self.interceptor = Interceptor(boto3.DEFAULT_SESSION.events)
        self.router.install(self.interceptor)
        moto_gaps.install(self.clock, self.scheduler)
        moto_gaps.quiet_engine_logs()
        self._bind_steps()
        self._attach_table_clients()
        if self.provision:
            self._create_tables()
            self._create_state_machines()
        return self

    def __exit__(self, *exc: object) -> None:
        from steps.core import clock as step_clock
        from steps.core import container, observability

        if self.scheduler is not None:
            self.scheduler.close()  # every parked execution runs on (and can be stopped)
        self._stop_running_executions()
        if self.interceptor:
            self.interceptor.uninstall()
        moto_gaps.uninstall()
        step_clock.reset()
        if self._saved_list_clock is not None:
            from steps.aws import cloudwatch

            cloudwatch._clock = self._saved_list_clock
        observability.use_sink(None)
        if self._previous_stream is not None:
            _step_log_handler().setStream(self._previous_stream)
        self._mock.stop()
        if self._previous_settings is not None:
            container.configure(self._previous_settings)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _bind_steps(self) -> None:
        """The steps' clock and metrics sink, and their log stream. Their AWS clients need nothing: they are made
        from boto3's default session, set up (with this runtime's interceptors) on entering."""
        from steps.aws import cloudwatch
        from steps.core import clock as step_clock
        from steps.core import observability

        step_clock.use(self.clock.now)
        # The ListMetrics time budget protects a Lambda's timeout; here a Task's wall time is moto answering
        # in-process on a machine other work may load (a 12 s budget once ran out after one call in a loaded
        # test run), and no Task has a timeout. Nor can it count the virtual clock: concurrent executions'
        # Waits advance it while one selection lists. Locally the budget's clock stands still: only the page
        # cap stops a listing (unit tests swap this clock to exercise the budget).
        self._saved_list_clock = cloudwatch._clock
        cloudwatch._clock = _standing_still
        observability.use_sink(lambda blob: self.metrics.append(json.loads(blob)))
        if self.log_stream is not None:
            handler = _step_log_handler()
            if getattr(handler.stream, "closed", False):
                # A stream closed under us (pytest's capture of an earlier session in this process, as
                # `make mutation` runs them): setStream would flush it and fail. Fall back to stderr.
                handler.stream = sys.stderr
            self._previous_stream = handler.setStream(self.log_stream)

    def _create_tables(self) -> None:
        from steps.store.audit import AuditRecord
        from steps.store.lifecycle import RemediationRecord
        from steps.store.lock import GroupLock

        for model in (GroupLock, AuditRecord, RemediationRecord):
            if not model.exists():
                model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)

    def _create_state_machines(self) -> None:
        from steps.core import container

        sfn = self.client("stepfunctions")
        values = substitutions(self.router, self.settings.lock_table)
        asl_dir = Path(os.environ.get(ASL_DIR_VARIABLE) or STATEMACHINE_DIR)
        for name in STATE_MACHINES:  # remediate first: the sweep refers to it
            created = sfn.create_state_machine(
                name=f"nightshift-{name}",
                definition=render_definition(asl_dir / f"{name}.asl.json", values),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/nightshift-{name}", type="STANDARD",
            )
            self.state_machines[name] = created["stateMachineArn"]
            values[f"{name.capitalize()}StateMachineArn"] = created["stateMachineArn"]
        os.environ["NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN"] = self.state_machines["remediate"]  # the CLI's
        self.topic_arn = self.client("sns").create_topic(Name="nightshift-notifications")["TopicArn"]
        self.settings = self.settings.model_copy(update={
            "remediate_state_machine_arn": self.state_machines["remediate"], "topic_arn": self.topic_arn,
            "drain_state_machine_arn": self.state_machines["drain"],
            "event_bus": "default"})
        container.configure(self.settings)

    def _stop_running_executions(self, patience: float = 10.0) -> None:
        """Stop every execution still running and wait (real time, briefly) for its engine thread to see it.

        moto runs each execution in a daemon thread that outlives the mock: one a caller started and never waited
        for would go on invoking the steps, whose clients the next runtime in this process points at its own
        world (same group names, same tables), and take that world's group lock. Seen as a flake: the next test's
        remediation found its group locked by nobody it knew."""
        if not self.state_machines:
            return
        sfn = self.client("stepfunctions")
        running: list[str] = []
        for arn in self.state_machines.values():
            pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING")
            running += [e["executionArn"] for page in pages for e in page["executions"]]
        for execution_arn in running:
            with contextlib.suppress(Exception):  # finished meanwhile
                sfn.stop_execution(executionArn=execution_arn, cause="the local runtime is closing")
        deadline = time.monotonic() + patience
        for execution_arn in running:
            finished = moto_gaps.execution_finished_probe(execution_arn)
            while not finished() and time.monotonic() < deadline:
                time.sleep(0.01)
        while self.router.in_flight and time.monotonic() < deadline:  # a handler a stopped execution began
            time.sleep(0.01)

    # -- wiring --------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    def add_fleet(self, spec: Any) -> Any:
        """Build a simulated fleet (nightshift.sim) and let it answer what moto lacks."""
        from nightshift.sim import FleetSimulator

        assert self.interceptor is not None
        simulator = FleetSimulator(spec, self.clock.now)
        built = simulator.build()
        simulator.install(self.interceptor)
        self.fleets.append(simulator)
        return simulator, built

    def inject(self, service_id: str, operation: str, code: str, message: str = "injected fault",
               status: int = 400, times: int | None = None, function: str | None = None) -> Fault:
        """Make an AWS operation fail before it takes effect (fault injection). ``function``: only the calls
        that Lambda function makes (``nightshift-<step>``); ``times`` None: every call."""
        assert self.interceptor is not None
        return self.interceptor.inject(service_id, operation, AwsError(code, message, status), times, function)

    def inject_after(self, service_id: str, operation: str, times: int | None = 1, function: str | None = None,
                     crash: str | None = None) -> Fault:
        """Let an AWS operation take effect, then lose its answer: the caller sees a read timeout, or with
        ``crash`` (``Lambda.Unknown``, ``Sandbox.Timedout``) the function's runtime dies right there."""
        from botocore.exceptions import ReadTimeoutError

        assert self.interceptor is not None

        def lost() -> BaseException:
            if crash is not None:
                return SandboxDied(crash, f"{function or 'the function'} died after {operation} took effect")
            timeout: BaseException = ReadTimeoutError(endpoint_url=f"https://{service_id}.local/")
            return timeout

        return self.interceptor.inject_after(service_id, operation, lost, times, function)

    def api_calls(self) -> list[ApiCall]:
        """Every AWS call answered so far, with the function that made it and whether AWS accepted it."""
        assert self.interceptor is not None
        return list(self.interceptor.calls)

    def _attach_table_clients(self) -> None:
        """PynamoDB's clients come from its own botocore session: record and fault their calls too, for every
        model of steps/store (found, never listed by hand: a list missed five models once)."""
        import importlib
        import pkgutil

        from pynamodb.models import Model

        import steps.store
        from steps.store import tables

        for module in pkgutil.iter_modules(steps.store.__path__):
            importlib.import_module(f"steps.store.{module.name}")
        assert self.interceptor is not None
        seen: set[int] = set()
        for model in tables.models(Model):
            client = model._get_connection().connection.client
            if id(client) not in seen:
                seen.add(id(client))
                self.interceptor.attach(client.meta.events)

    def declare_groups(self, groups: list[dict[str, Any]], account: dict[str, Any] | None = None) -> None:
        """Write the groups declaration (and the account's limits, ``account``) where the steps read it."""
        from steps.core import groups as step_groups

        document: dict[str, Any] = {"groups": groups, **({"account": account} if account is not None else {})}
        self.client("ssm").put_parameter(Name=GROUPS_PARAMETER, Value=json.dumps(document),
                                         Type="String", Overwrite=True)
        step_groups.reset()

    # -- executions ----------------------------------------------------------------------------
    def start(self, execution_input: dict[str, Any], name: str | None = None,
              machine: str = "remediate") -> str:
        # Gap: moto names an execution started without a name "None" (AWS generates a UUID).
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machines[machine],
                                  "input": json.dumps(execution_input), "name": name or str(uuid.uuid4())}
        return str(self.client("stepfunctions").start_execution(**kwargs)["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block (in real time, briefly) until the execution finishes; returns describe_execution."""
        for description in self.follow(execution_arn, timeout):
            if description["status"] in FINISHED:
                return description
        raise TimeoutError(f"{execution_arn} still running after {timeout} s of real time")

    def follow(self, execution_arn: str, timeout: float = 120.0) -> Iterator[dict[str, Any]]:
        """DescribeExecution until the execution finishes: at once when it does, else every ``DESCRIBE_EVERY``
        seconds of real time. Between two, the execution's status is read from moto's memory every 5 ms: a
        DescribeExecution through boto3 costs milliseconds of the GIL the execution's own thread needs (polling
        with it every 5 ms made every workflow test about 15 % slower)."""
        sfn = self.client("stepfunctions")
        finished = moto_gaps.execution_finished_probe(execution_arn)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            yield description
            if description["status"] in FINISHED:
                return
            described = time.monotonic()
            while not finished() and time.monotonic() - described < DESCRIBE_EVERY:
                time.sleep(0.005)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        from nightshift.operations import execution_history

        return execution_history(self.client("stepfunctions"), execution_arn)

    def run(self, execution_input: dict[str, Any], name: str | None = None, timeout: float = 120.0,
            ) -> dict[str, Any]:
        return self.wait(self.start(execution_input, name), timeout)
