"""Deploy infra/template.yaml (translated by aws-sam-translator) into moto's CloudFormation inside the local
runtime, then run the deployed state machines against a simulated fleet.

What moto does not do is done here, explicitly: it ignores DefinitionSubstitutions (spliced into the
definitions: deployed_stack.with_substitutions_inlined), enforces no IAM (every AWS call the steps and
the state machines make is recorded and checked against the caller's policy in the template,
deployed_stack.DeployedStack.denial), and cannot run the functions (the runtime's Lambda router runs the
handlers in-process, bound to the environment the stack gave each deployed function).
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("samtranslator", reason="aws-sam-translator is not installed (pyproject dev extras)")
pytest.importorskip("openapi_spec_validator", reason="moto's CloudFormation needs moto[cloudformation] (dev extras)")
fleet = pytest.importorskip("nightshift.sim.fleet", reason="the fleet simulator (nightshift/sim) is not there yet")

from deployed_stack import (  # noqa: E402
    DeployedStack,
    call_resources,
    hand_state_machines_to_the_engine,
    with_substitutions_inlined,
)

from nightshift import infra_check  # noqa: E402
from nightshift.functions import STEP_FUNCTIONS  # noqa: E402
from nightshift.infra_check.translate import translate  # noqa: E402
from nightshift.runtime.lambda_router import catalogue_entry  # noqa: E402
from nightshift.runtime.runner import ACCOUNT, LocalRuntime  # noqa: E402

pytestmark = [pytest.mark.workflow,
              # moto warns once per resource type it skips; MOTO_SKIPS below names them on purpose
              pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning")]

ROOT = Path(__file__).resolve().parents[2]
STACK = "ns-e2e"  # not "nightshift": the router must resolve <stack>-<name>, as on AWS
CODE_BUCKET, CODE_KEY = "nightshift-artifacts", "steps.zip"
MANAGED = [{"Key": "nightshift:managed", "Value": "true"}]
# Resource types moto's CloudFormation does not implement: it reports them created and creates nothing.
MOTO_SKIPS = {"AWS::CloudWatch::Alarm", "AWS::Scheduler::Schedule"}
IAM_PREFIX = {"monitoring": "cloudwatch"}  # botocore signing name -> IAM service prefix, where they differ
IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}  # API operation -> IAM action, where they differ


def group_declaration(built: Any) -> dict[str, Any]:
    # Run Command drain and boot signals and per-AZ capacity, so SendCommand and DescribeInstances run too.
    group: dict[str, Any] = built.group_declaration()
    group.update({"metric": {"threshold": 65.0, "breaching_datapoints": 3, "evaluation_datapoints": 5},
                  "min_healthy": 2, "min_healthy_percent": 50, "per_az": True,
                  "drain": {"signal": "ssm", "poll_seconds": 10, "quiet_checks": 2},
                  "boot": {"signal": "ssm"}})
    return group


def code_archive() -> bytes:
    """What `sam build` would upload: the steps package (its dependencies are irrelevant to moto)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((ROOT / "steps").rglob("*.py")):
            archive.write(path, str(path.relative_to(ROOT)))
    return buffer.getvalue()


@dataclass
class Recorded:
    caller: str | None  # the step function's name, or None for the state machine engine itself
    action: str
    params: dict[str, Any]


@dataclass
class Deployment:
    rt: LocalRuntime
    stack: DeployedStack
    sim: Any
    built: Any
    outputs: dict[str, str]
    calls: list[Recorded] = field(default_factory=list)

    def run(self, output: str, execution_input: dict[str, Any], name: str) -> dict[str, Any]:
        arn = self.rt.client("stepfunctions").start_execution(
            stateMachineArn=self.outputs[output], name=name, input=json.dumps(execution_input))["executionArn"]
        return self.rt.wait(arn, timeout=60)


@contextmanager
def deployed_environment(variables: dict[str, str]) -> Iterator[None]:
    """Bind the in-process handlers to what a cold-started container of the deployed function reads: its
    environment, the settings the steps read from it once (the stack's tables and groups parameter)."""
    from steps.core import container
    from steps.core.config import Settings

    saved_env = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        with container.configured(Settings.from_env()):
            yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def recording(deployment: Deployment) -> Iterator[list[Recorded]]:
    """Record every AWS call made on the engine's threads: by a step (the router says which is running)
    or by the engine itself (Lambda invocations, the lock release, nested executions)."""
    import boto3
    from pynamodb.connection.base import Connection

    calls: list[Recorded] = []
    running = threading.local()
    main = threading.main_thread()

    def step_starts(name: str, event: dict[str, Any]) -> None:
        running.name = name

    def step_ends(name: str, event: dict[str, Any], result: dict[str, Any]) -> None:
        running.name = None

    def boto_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        if threading.current_thread() is main:
            return  # the test's own calls (start_execution, describe_execution...)
        service = model.service_model.signing_name
        action = f"{IAM_PREFIX.get(service, service)}:{model.name}"
        action = IAM_ACTION.get(action, action)
        if action == "lambda:InvokeFunction":
            running.name = None  # only the engine invokes functions; a step that raised left no end mark
        calls.append(Recorded(getattr(running, "name", None), action, dict(params)))

    original_dispatch = Connection.dispatch

    def record(action: str, kwargs: dict[str, Any]) -> None:
        calls.append(Recorded(getattr(running, "name", None), action,
                              {"TableName": kwargs.get("TableName"), "IndexName": kwargs.get("IndexName"),
                               # the item's key: dynamodb:LeadingKeys conditions need it
                               "Key": kwargs.get("Key"), "Item": kwargs.get("Item")}))

    def pynamodb_call(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        if threading.current_thread() is not main:
            if operation_name == "TransactWriteItems":
                # IAM authorises each item by its own action: Update -> dynamodb:UpdateItem, ConditionCheck ->
                # dynamodb:ConditionCheckItem (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
                # transaction-apis-iam.html)
                for item in operation_kwargs["TransactItems"]:
                    for kind, body in item.items():
                        record(f"dynamodb:{TRANSACT_ACTIONS[kind]}", body)
            elif operation_name == "BatchGetItem":
                for table in operation_kwargs["RequestItems"]:
                    record("dynamodb:BatchGetItem", {"TableName": table})
            else:
                record(f"dynamodb:{operation_name}", operation_kwargs)
        return original_dispatch(self, operation_name, operation_kwargs)

    session = boto3.DEFAULT_SESSION
    assert session is not None
    router = deployment.rt.router
    router.before.append(step_starts)
    router.after.append(step_ends)
    session.events.register("before-parameter-build", boto_call, unique_id="nightshift-iam-recorder")
    Connection.dispatch = pynamodb_call  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        Connection.dispatch = original_dispatch  # type: ignore[method-assign]
        session.events.unregister("before-parameter-build", unique_id="nightshift-iam-recorder")
        router.before.remove(step_starts)
        router.after.remove(step_ends)


TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem"}


def _tags_of(rt: LocalRuntime) -> Any:
    def tags(arn: str) -> dict[str, str]:
        if ":instance/" in arn:
            found = rt.client("ec2").describe_tags(
                Filters=[{"Name": "resource-id", "Values": [arn.rsplit("/", 1)[-1]]}])["Tags"]
        elif ":targetgroup/" in arn:
            found = rt.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
        else:
            found = []
        return {t["Key"]: t["Value"] for t in found}

    return tags


@contextmanager
def deploy(tagged: bool = True) -> Iterator[Deployment]:
    # GIVEN the template as `sam deploy` would submit it, with the definitions' substitutions applied
    template = with_substitutions_inlined(translate(infra_check.TEMPLATE, code_uri=f"s3://{CODE_BUCKET}/{CODE_KEY}"))
    with LocalRuntime(provision=False) as rt:
        # AND a simulated fleet whose instances and target groups are tagged as docs/deploy.md asks
        sim, built = rt.add_fleet(fleet.FleetSpec(managed_tag=tagged))
        if tagged:
            rt.client("ec2").create_tags(Resources=list(built.instance_ids), Tags=MANAGED)
            rt.client("elbv2").add_tags(ResourceArns=list(built.target_group_arns), Tags=MANAGED)
        s3 = rt.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=code_archive())
        parameters = {"GroupsJson": json.dumps({"groups": [group_declaration(built)]})}
        # WHEN the stack is created
        cfn = rt.client("cloudformation")
        cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(template),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        description = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        assert description["StackStatus"] == "CREATE_COMPLETE", description.get("StackStatusReason")
        hand_state_machines_to_the_engine(rt.client("stepfunctions"), ACCOUNT, rt.region)
        summaries = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        physical = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s["LogicalResourceId"]}
        stack = DeployedStack(template, STACK, rt.region, ACCOUNT, parameters, physical, _tags_of(rt))
        outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
        variables = rt.client("lambda").get_function_configuration(
            FunctionName=f"{STACK}-validate-request")["Environment"]["Variables"]
        variables["NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN"] = outputs["RemediateStateMachineArn"]
        with deployed_environment(variables):
            yield Deployment(rt, stack, sim, built, outputs)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with deploy() as deployed:
        yield deployed


def test_the_stack_creates_every_resource_moto_implements(deployment: Deployment) -> None:
    stack = deployment.stack
    types = {r["Type"] for r in stack.template["Resources"].values()
             if "Condition" not in r or stack.condition(r["Condition"])}
    created = {deployment.stack.template["Resources"][logical]["Type"] for logical in deployment.stack.physical}
    assert types - created == MOTO_SKIPS  # a new type moto skips must be added here knowingly
    functions = deployment.rt.client("lambda").list_functions()["Functions"]
    assert sorted(f["FunctionName"] for f in functions) == sorted(f"{STACK}-{e.name}" for e in STEP_FUNCTIONS)
    assert all(catalogue_entry(f["FunctionName"]) for f in functions)


def test_every_function_gets_the_stacks_tables_and_groups_parameter(deployment: Deployment) -> None:
    physical = deployment.stack.physical
    expected = {"NIGHTSHIFT_LOCK_TABLE": physical["LockTable"], "NIGHTSHIFT_AUDIT_TABLE": physical["AuditTable"],
                "NIGHTSHIFT_LIFECYCLE_TABLE": physical["LifecycleTable"],
                "NIGHTSHIFT_GROUPS_PARAMETER": f"/{STACK}/groups", "POWERTOOLS_SERVICE_NAME": "nightshift",
                "POWERTOOLS_LOG_LEVEL": "INFO"}
    lam = deployment.rt.client("lambda")
    for entry in STEP_FUNCTIONS:
        variables = lam.get_function_configuration(FunctionName=f"{STACK}-{entry.name}")["Environment"]["Variables"]
        assert {k: variables.get(k) for k in expected} == expected, entry.name
    assert deployment.outputs["GroupsParameterName"] == f"/{STACK}/groups"


def _denials(deployment: Deployment, calls: list[Recorded], engine_principal: Any) -> list[str]:
    problems = []
    for call in calls:
        if call.caller is None:
            principal = engine_principal(call)
        else:
            entry = catalogue_entry(call.caller)
            assert entry is not None
            principal = "".join(p.capitalize() for p in entry.name.split("-")) + "Function"
        resources = call_resources(call.action, call.params, deployment.rt.region, ACCOUNT)
        denial = deployment.stack.denial(principal, call.action, resources,
                                         deployment.stack.request_context(call.action, call.params))
        if denial:
            problems.append(denial)
    return sorted(set(problems))


def test_the_deployed_remediation_heals_the_leaking_instance_within_its_policies(deployment: Deployment) -> None:
    leaker = deployment.sim.leaking_instance_ids()[0]
    # WHEN an operator starts the deployed remediate state machine as docs/deploy.md shows
    with recording(deployment) as calls:
        result = deployment.run("RemediateStateMachineArn", {
            "group": "web", "reason": "deploy test", "requested_by": "tests/infra"}, "deploy-test")
    # THEN it succeeds: the leaking instance, and only it, rebooted once and is healthy everywhere
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert len(deployment.sim.reboots(leaker)) == 1
    assert all(deployment.sim.target_state(leaker, tg) == "healthy" for tg in deployment.built.target_group_arns)
    # AND the audit trail is in the stack's own audit table
    from steps.store import audit

    assert [r.event for r in audit.for_group("web")][-1] == "HEALTHY"
    # AND every AWS call it made is one its caller's policy allows, tag conditions included
    steps_called = {c.caller for c in calls if c.caller}
    assert {f"{STACK}-{n}" for n in ("validate-request", "reboot-instance", "check-drain")} <= steps_called
    assert {c.action for c in calls} >= {"ec2:RebootInstances", "ssm:SendCommand", "dynamodb:DeleteItem",
                                         "elasticloadbalancing:DeregisterTargets", "lambda:InvokeFunction"}
    assert _denials(deployment, calls, lambda call: "RemediateStateMachine") == []


def test_the_deployed_sweep_runs_a_nested_remediation_within_its_policies(deployment: Deployment) -> None:
    sweep_text = (Path(__file__).resolve().parents[2] / "statemachine" / "sweep.asl.json").read_text()
    sweep_steps = set(re.findall(r"\$\{(\w+FunctionArn)\}", sweep_text))
    remediate_steps = {e.placeholder for e in STEP_FUNCTIONS if e.placeholder} - sweep_steps

    def engine_principal(call: Recorded) -> str:
        # The engine acts for the sweep (its own steps, nested executions) or for the nested remediate.
        if call.action == "lambda:InvokeFunction":
            entry = catalogue_entry(str(call.params["FunctionName"]).split(":function:")[-1])
            assert entry is not None
            return "RemediateStateMachine" if entry.placeholder in remediate_steps else "SweepStateMachine"
        return "RemediateStateMachine" if call.action.startswith("dynamodb:") else "SweepStateMachine"

    # WHEN the sweep runs as its schedule would start it
    with recording(deployment) as calls:
        result = deployment.run("SweepStateMachineArn", {}, "sweep-deploy-test")
    # THEN it succeeds, having remediated the one declared group through a nested remediate execution
    assert result["status"] == "SUCCEEDED", result.get("cause")
    summary = json.loads(result["output"])["summary"]
    assert summary["groups"]["web"]["verdict"] == "remediated", summary
    assert {c.action for c in calls} >= {"states:StartExecution", "lambda:InvokeFunction"}
    assert _denials(deployment, calls, engine_principal) == []


def test_untagged_instances_and_target_groups_are_out_of_reach() -> None:
    # GIVEN a fleet whose instances and target groups lack the nightshift:managed=true tag
    with deploy(tagged=False) as deployment:
        with recording(deployment) as calls:
            deployment.run("RemediateStateMachineArn", {"group": "web"}, "untagged")
        # THEN on AWS each mutating call would be refused (moto enforces no IAM; the template's policy does)
        denied = _denials(deployment, calls, lambda call: "RemediateStateMachine")
    assert {d.split(" may not ")[1].split(" on ")[0] for d in denied} == {
        "elasticloadbalancing:DeregisterTargets", "ssm:SendCommand", "ec2:RebootInstances",
        "elasticloadbalancing:RegisterTargets"}
    assert all(":document/" not in d for d in denied)  # the document itself needs no tag
