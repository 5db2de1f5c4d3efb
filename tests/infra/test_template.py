"""infra/template.yaml read as data: the catalogue's functions, least-privilege policies derived from the
steps' source, tag-scoped mutating calls, tables that match the PynamoDB models, alarms that page."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from step_calls import Call, calls_of_step

from nightshift import infra_check
from nightshift.functions import STEP_FUNCTIONS, StepFunction
from nightshift.infra_check import asl, cfn_yaml
from nightshift.runtime.lambda_router import catalogue_entry

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = cfn_yaml.load(infra_check.TEMPLATE)
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
GLOBALS: dict[str, Any] = TEMPLATE["Globals"]["Function"]
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List)")
MANAGED_TAG_KEYS = {"aws:ResourceTag/nightshift:managed", "ssm:resourceTag/nightshift:managed",
                    "autoscaling:ResourceTag/nightshift:managed"}
RUN_SHELL_SCRIPT = "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-RunShellScript"
# Grants that are not calls of the step's code but of the platform on its behalf.
PLATFORM_GRANTS = {
    # Lambda sends the alarm trigger's failed events to its dead-letter queue, encrypted with this key.
    "AlarmTriggerFunction": {Call("kms:GenerateDataKey"), Call("kms:Decrypt")},
    # ... and so does the termination trigger, to its own queue.
    "TerminationTriggerFunction": {Call("kms:GenerateDataKey"), Call("kms:Decrypt")},
    # Publishing to the KMS-encrypted topic: SNS encrypts with the publisher's key permissions.
    "NotifyFunction": {Call("kms:GenerateDataKey"), Call("kms:Decrypt")},
    # The selection publishes its once-a-day NO_METRIC_DATA notice to the same topic.
    "SelectWorstInstanceFunction": {Call("kms:GenerateDataKey"), Call("kms:Decrypt")},
    # The sweep's summary announces a reconcile that failed on the same topic.
    "SummariseSweepFunction": {Call("kms:GenerateDataKey"), Call("kms:Decrypt")},
}
# StartInstances on an instance with customer-managed-key EBS volumes: EC2 uses the key on the caller's
# behalf (only when the EbsKmsKeyArns parameter is set).
EBS_KMS = {Call("kms:CreateGrant"), Call("kms:Decrypt"), Call("kms:DescribeKey")}
for _starter in ("StopStartInstanceFunction", "RestoreServiceFunction", "ResumeRemediationFunction",
                 "ReconcileFunction"):
    PLATFORM_GRANTS[_starter] = PLATFORM_GRANTS.get(_starter, set()) | EBS_KMS
TABLES = {"LockTable", "AuditTable", "LifecycleTable"}


def logical_id(entry: StepFunction) -> str:
    return "".join(part.capitalize() for part in entry.name.split("-")) + "Function"


def properties(name: str) -> dict[str, Any]:
    return dict(RESOURCES[name]["Properties"])


def statements(function: str) -> list[dict[str, Any]]:
    """The function's statements, a conditional one (!If [Cond, statement, NoValue]) as when Cond is true."""
    found = []
    for policy in properties(function).get("Policies", []):
        for item in policy["Statement"]:
            if "Fn::If" in item:
                _, granted_when, otherwise = item["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                item = granted_when  # noqa: PLW2901
            found.append(item)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def tables_of(resource: Any) -> set[str]:
    """The tables a statement's Resource names: !GetAtt T.Arn, or !Sub ${T.Arn}/index/... for an index."""
    found = set()
    for item in as_list(resource):
        if isinstance(item, dict) and "Fn::GetAtt" in item:
            found.add(item["Fn::GetAtt"][0])
        elif isinstance(item, dict) and "Fn::Sub" in item:
            found |= set(re.findall(r"\$\{(\w+)\.Arn\}", item["Fn::Sub"]))
    return found & TABLES


def granted(function: str) -> set[Call]:
    calls = set()
    for statement in statements(function):
        assert statement["Effect"] == "Allow"
        tables = tables_of(statement["Resource"]) or {None}
        calls |= {Call(action, table) for action in as_list(statement["Action"]) for table in tables}
    return calls


# -- one function per catalogue entry -------------------------------------------------------------------
@pytest.mark.parametrize("entry", STEP_FUNCTIONS, ids=lambda e: e.name)
def test_each_catalogue_entry_has_its_function(entry: StepFunction) -> None:
    function = properties(logical_id(entry))
    assert RESOURCES[logical_id(entry)]["Type"] == "AWS::Serverless::Function"
    assert function["Handler"] == f"steps.{entry.module}.handler"
    assert function["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{entry.name}"}
    # its own log group, with the retention an operator chose
    group = properties(function["LoggingConfig"]["LogGroup"]["Ref"])
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{entry.name}"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    if entry.placeholder:
        assert entry.placeholder == f"{logical_id(entry)}Arn"


def test_functions_are_exactly_the_catalogue() -> None:
    functions = {k for k, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == {logical_id(e) for e in STEP_FUNCTIONS}


def test_function_settings_shared_by_every_step() -> None:
    assert GLOBALS["Runtime"] in {"python3.12", "python3.13"}
    assert GLOBALS["Architectures"] == ["arm64"]
    assert GLOBALS["MemorySize"] == 256
    assert GLOBALS["Timeout"] <= 30
    assert GLOBALS["Tracing"] == "Active"
    assert GLOBALS["CodeUri"] == "../"
    python = GLOBALS["Runtime"].removeprefix("python").replace(".", "")
    assert GLOBALS["Layers"] == [{"Fn::Sub": "arn:aws:lambda:${AWS::Region}:017000801446:layer:"
                                         f"AWSLambdaPowertoolsPythonV3-python{python}-arm64:${{PowertoolsLayerVersion}}"}]
    variables = GLOBALS["Environment"]["Variables"]
    assert variables["NIGHTSHIFT_LOCK_TABLE"] == {"Ref": "LockTable"}
    assert variables["NIGHTSHIFT_AUDIT_TABLE"] == {"Ref": "AuditTable"}
    assert variables["NIGHTSHIFT_LIFECYCLE_TABLE"] == {"Ref": "LifecycleTable"}
    assert variables["NIGHTSHIFT_GROUPS_PARAMETER"] == {
        "Fn::If": ["CreateGroupsParameter", {"Ref": "GroupsParameter"}, {"Ref": "GroupsParameterName"}]}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "nightshift"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def _function_timeout(resource: str) -> int:
    """The timeout of the function a Task's ``${XFunctionArn}`` names: its own, else the global one."""
    function = resource.removeprefix("${").removesuffix("Arn}")
    return int(properties(function).get("Timeout", GLOBALS["Timeout"])) if function in RESOURCES \
        else int(GLOBALS["Timeout"])


def test_a_lambda_timeout_is_shorter_than_every_task_timeout() -> None:
    # A Task that times out first would retry a function that may still be running.
    for path in sorted(infra_check.STATEMACHINE_DIR.glob("*.asl.json")):
        for state in asl.states(asl.load(path)):
            if state.type == "Task" and "TimeoutSeconds" in state.definition:
                timeout = _function_timeout(str(state.definition["Resource"]))
                assert state.definition["TimeoutSeconds"] > timeout, (path.name, state.path, timeout)


def test_the_reconciler_may_run_longer_than_other_steps_and_stops_itself_first() -> None:
    # It pages through every group's audit trail: its own timeout, above the global one ...
    from steps.sweep import reconcile

    timeout = int(properties("ReconcileFunction")["Timeout"])
    assert timeout > GLOBALS["Timeout"]
    # ... with time left to save its cursor and audit when it stops itself (RESERVE_MS before the end)
    assert 0 < reconcile.RESERVE_MS < timeout * 1000 / 2
    assert timeout * 1000 >= reconcile.DEFAULT_BUDGET_MS + reconcile.RESERVE_MS
    sweep = asl.load(infra_check.STATEMACHINE_DIR / "sweep.asl.json")
    assert sweep["States"]["Put back what failed runs left out"]["TimeoutSeconds"] > timeout


def test_the_code_uri_packages_the_steps_package() -> None:
    code = (infra_check.TEMPLATE.parent / GLOBALS["CodeUri"]).resolve()
    assert code == ROOT
    # no symlink anywhere in the build input: `sam build --use-container` would not follow it
    for folder in (ROOT / "infra", ROOT / "steps"):
        assert [p for p in folder.rglob("*") if p.is_symlink()] == []
    # every function is built by the Makefile at the CodeUri, which copies steps/ and the requirements
    functions = [n for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"]
    assert functions and all(RESOURCES[n].get("Metadata") == {"BuildMethod": "makefile"} for n in functions)
    for name in functions:
        dry = subprocess.run(["make", "-n", "-C", str(code), f"build-{name}", "ARTIFACTS_DIR=/artifacts"],
                             capture_output=True, text=True, check=True).stdout
        assert 'cp -R steps "/artifacts/steps"' in dry, name
        assert '-r infra/function/requirements.txt -t "/artifacts"' in dry, name
    assert (code / "steps" / "__init__.py").is_file()
    pins = dict(line.split("==") for line in (ROOT / "infra" / "function" / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for package in ("transitions", "pynamodb"):
        assert f"{package}=={pins[package]}" in project, f"{package} pin differs from pyproject.toml"
    assert pins["boto3"] == pins["botocore"], "bundle a matching boto3/botocore pair"


# What the Lambda package provides besides the standard library: infra/function/requirements.txt (and
# their dependencies) and the Powertools layer (aws-lambda-powertools with pydantic).
PACKAGED = {"steps", "transitions", "pynamodb", "boto3", "botocore"}
POWERTOOLS_LAYER = {"aws_lambda_powertools", "pydantic"}


def test_every_import_of_the_steps_is_in_the_lambda_package() -> None:
    imported = set()
    for path in (ROOT / "steps").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    missing = imported - PACKAGED - POWERTOOLS_LAYER - set(sys.stdlib_module_names) - {"__future__"}
    assert missing == set(), "steps import modules neither requirements.txt nor the layer provides"


@pytest.mark.parametrize("entry", STEP_FUNCTIONS, ids=lambda e: e.name)
def test_the_local_router_resolves_deployed_and_local_names(entry: StepFunction) -> None:
    assert catalogue_entry(f"nightshift-{entry.name}") is entry
    assert catalogue_entry(f"prod-eu-{entry.name}") is entry
    assert catalogue_entry(entry.name) is None
    assert catalogue_entry(f"prod-{entry.name}-v2") is None


# -- least privilege -----------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", STEP_FUNCTIONS, ids=lambda e: e.name)
def test_each_policy_grants_exactly_the_calls_its_step_makes(entry: StepFunction) -> None:
    # GIVEN the AWS calls reachable from steps/<package>/<module>.py (steps/aws, steps/store, steps/core/groups)
    needed = calls_of_step(entry.module)
    # THEN the function's policy grants those and nothing else (DynamoDB: on the right table)
    have = granted(logical_id(entry)) - PLATFORM_GRANTS.get(logical_id(entry), set())
    assert sorted(needed - have, key=str) == [], "calls the policy does not allow"
    assert sorted(have - needed, key=str) == [], "grants no code path uses"


def test_the_reconciler_writes_only_its_progress_items_and_park_records_in_the_lock_table() -> None:
    from steps.store import parked, reconcile_progress

    writes = [s for s in statements("ReconcileFunction")
              if {"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(as_list(s["Action"]))
              and s["Resource"] == {"Fn::GetAtt": ["LockTable", "Arn"]}]
    # the progress items (PutItem); a park record, once its SPOT_PARK_OVERDUE is written (UpdateItem of one field)
    assert sorted((as_list(s["Action"]), s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                  for s in writes) == [(["dynamodb:PutItem"], [f"{reconcile_progress.PREFIX}*"]),
                                       (["dynamodb:UpdateItem"], [f"{parked.PREFIX}*"])]


def test_the_selection_writes_only_its_daily_notices_and_instance_claims_and_renews_its_lease() -> None:
    from steps.store import claim, first_seen, notices

    puts = [s for s in statements("SelectWorstInstanceFunction") if "dynamodb:PutItem" in as_list(s["Action"])
            and s["Resource"] == {"Fn::GetAtt": ["LockTable", "Arn"]}]
    # notices: PutItem claims the day, DeleteItem gives the claim back when the message could not be sent
    conditions = sorted(tuple(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]) for s in puts)
    # (and, for the unhealthy_target criterion, when it first saw each target failing)
    assert conditions == [(f"{claim.PREFIX}*",), (f"{notices.PREFIX}*",), (f"{first_seen.PREFIX}*",)]
    allowed = {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"}
    assert all(set(as_list(s["Action"])) <= allowed for s in puts)
    # the group locks themselves: it never takes, writes or releases one; while it watches an unhealthy_target it
    # only renews its own lease (UpdateItem conditional on owner = this execution, steps/store/lock.py renew); with
    # max_in_flight it reads the group's slots (BatchGetItem) and notes its instance on its own slot
    unconditioned = [s for s in statements("SelectWorstInstanceFunction")
                     if s["Resource"] == {"Fn::GetAtt": ["LockTable", "Arn"]} and "Condition" not in s]
    assert [set(as_list(s["Action"])) for s in unconditioned] == [{"dynamodb:GetItem", "dynamodb:BatchGetItem",
                                                                   "dynamodb:UpdateItem"}]


def test_pynamodb_needs_no_describe_table() -> None:
    # PynamoDB 6 builds table metadata from the model; only Model.exists() would call DescribeTable.
    assert not any(c.action == "dynamodb:DescribeTable" for e in STEP_FUNCTIONS for c in calls_of_step(e.module))


def _function_statements() -> list[tuple[str, dict[str, Any]]]:
    return [(logical_id(e), s) for e in STEP_FUNCTIONS for s in statements(logical_id(e))]


def test_mutating_ec2_elb_ssm_and_autoscaling_calls_are_scoped_to_managed_resources() -> None:
    checked = 0
    for function, statement in _function_statements():
        mutating = [a for a in as_list(statement["Action"])
                    if a.split(":")[0] in {"ec2", "elasticloadbalancing", "ssm", "autoscaling"}
                    and not READ_ONLY.match(a)]
        if not mutating:
            continue
        checked += 1
        resource = statement["Resource"]
        assert resource != "*", (function, statement["Sid"])
        if resource == {"Fn::Sub": RUN_SHELL_SCRIPT}:
            assert mutating == ["ssm:SendCommand"]  # the AWS-owned document itself carries no tags
            continue
        condition = statement["Condition"]["StringEquals"]
        assert condition.keys() & MANAGED_TAG_KEYS and set(condition.values()) == {"true"}, (function, statement["Sid"])
    assert checked >= 8


def test_run_command_is_allowed_only_on_managed_instances_and_one_document() -> None:
    for function, statement in _function_statements():
        if "ssm:SendCommand" in as_list(statement["Action"]):
            assert statement["Resource"] in (
                {"Fn::Sub": RUN_SHELL_SCRIPT},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"}), function


def test_describe_execution_covers_only_this_stacks_remediate_executions() -> None:
    expected = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
                           "${AWS::StackName}-remediate:*"}
    drains = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
                         "${AWS::StackName}-drain:*"}
    found = [s["Resource"] for f, s in _function_statements() if "states:DescribeExecution" in as_list(s["Action"])
             and f != "TerminationTriggerFunction"]
    assert found and all(r == expected for r in found)
    # the termination trigger looks up only this stack's termination drains
    assert [s["Resource"] for f, s in _function_statements() if f == "TerminationTriggerFunction"
            and "states:DescribeExecution" in as_list(s["Action"])] == [drains]
    assert properties("RemediateStateMachine")["Name"] == {"Fn::Sub": "${AWS::StackName}-remediate"}


def test_only_read_only_calls_use_resource_star() -> None:
    for function, statement in _function_statements():
        if statement["Resource"] == "*":
            assert all(READ_ONLY.match(a) for a in as_list(statement["Action"])), (function, statement["Sid"])


def _role_actions(role: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for policy in properties(role)["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                found.setdefault(action, []).append(statement["Resource"])
    return found


def _lambda_placeholders(state_machine: str) -> set[str]:
    path = infra_check.TEMPLATE.parent / properties(state_machine)["DefinitionUri"]
    return set(asl.lambda_placeholders(asl.load(path)))


DELIVERY = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
            "xray:GetSamplingRules", "xray:GetSamplingTargets"}


def test_the_remediate_role_invokes_only_its_steps_and_deletes_only_its_lock() -> None:
    actions = _role_actions("RemediateStateMachineRole")
    invoked = {r["Fn::GetAtt"][0] + "Arn" for r in actions.pop("lambda:InvokeFunction")[0]}
    assert invoked == _lambda_placeholders("RemediateStateMachine")
    assert actions.pop("dynamodb:DeleteItem") == [{"Fn::GetAtt": ["LockTable", "Arn"]}]
    # the cascade (max_in_flight above 1): it starts executions of itself only, by name
    assert actions.pop("states:StartExecution") == [{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:"
                                                                 "${AWS::AccountId}:stateMachine:${AWS::StackName}-remediate"}]
    assert set(actions) == DELIVERY  # what Step Functions needs for Logging and Tracing, on "*"


def test_the_sweep_role_starts_only_remediate_executions() -> None:
    actions = _role_actions("SweepStateMachineRole")
    invoked = {r["Fn::GetAtt"][0] + "Arn" for r in actions.pop("lambda:InvokeFunction")[0]}
    assert invoked == _lambda_placeholders("SweepStateMachine")
    assert actions.pop("states:StartExecution") == [{"Ref": "RemediateStateMachine"}]
    executions = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
                             "${AWS::StackName}-remediate:*"}
    assert actions.pop("states:DescribeExecution") == [executions]
    assert actions.pop("states:StopExecution") == [executions]
    managed_rule = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
                               "StepFunctionsGetEventsForStepFunctionsExecutionRule"}
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert actions.pop(action) == [managed_rule]
    assert set(actions) == DELIVERY


@pytest.mark.parametrize("state_machine", ["RemediateStateMachine", "SweepStateMachine", "DrainStateMachine"])
def test_state_machines_log_and_trace(state_machine: str) -> None:
    machine = properties(state_machine)
    assert machine["Type"] == "STANDARD"
    assert machine["Logging"]["Level"] in {"ALL", "ERROR"} and machine["Logging"]["IncludeExecutionData"] is True
    assert machine["Tracing"] == {"Enabled": True}


# -- tables ----------------------------------------------------------------------------------------------
def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def test_tables_match_the_pynamodb_models() -> None:
    from pynamodb.attributes import TTLAttribute

    from steps.store.audit import AuditRecord
    from steps.store.lifecycle import RemediationRecord
    from steps.store.lock import GroupLock

    for logical, model, ttl in (("LockTable", GroupLock, "purge_at"), ("AuditTable", AuditRecord, "expires_at"),
                                ("LifecycleTable", RemediationRecord, "expires_at")):
        table = properties(logical)
        schema = model._get_schema()
        assert _keys(table["KeySchema"]) == _keys(schema["key_schema"]), logical
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(schema["attribute_definitions"], key=str)
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["SSESpecification"] == {"SSEEnabled": True}
        assert table["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
        assert ttl in model.get_attributes(), f"{model.__name__} has no TTL attribute {ttl}"
        assert isinstance(model.get_attributes()[ttl], TTLAttribute), f"{model.__name__}.{ttl} is no TTLAttribute"
        model_indexes = {i["index_name"]: i for i in schema["global_secondary_indexes"]}
        table_indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
        assert table_indexes.keys() == model_indexes.keys(), logical
        for name, index in table_indexes.items():
            assert _keys(index["KeySchema"]) == _keys(model_indexes[name]["key_schema"])
            assert index["Projection"] == {"ProjectionType": model_indexes[name]["projection"]["ProjectionType"]}


def test_audit_and_lifecycle_tables_outlive_the_stack() -> None:
    for logical in ("AuditTable", "LifecycleTable"):
        assert RESOURCES[logical]["DeletionPolicy"] == RESOURCES[logical]["UpdateReplacePolicy"] == "Retain"


# -- triggers, paging -------------------------------------------------------------------------------------
def test_functions_invoked_asynchronously_have_a_dead_letter_queue() -> None:
    # checkov's DLQ check is skipped for the synchronous steps (infra/checkov.yaml); this keeps it honest.
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Serverless::Function" and resource["Properties"].get("Events"):
            assert resource["Properties"]["DeadLetterQueue"]["Type"] == "SQS", name


def test_opted_in_alarms_trigger_a_remediation() -> None:
    rule = properties("AlarmTriggerFunction")["Events"]["AlarmStateChange"]
    assert rule["Type"] == "EventBridgeRule"
    assert rule["Properties"]["Pattern"] == {
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": {"Ref": "AlarmNamePrefix"}}], "state": {"value": ["ALARM"]}}}
    assert properties("AlarmTriggerFunction")["Environment"]["Variables"] == {
        "NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN": {"Ref": "RemediateStateMachine"},
        "NIGHTSHIFT_ALARM_NAME_PREFIX": {"Ref": "AlarmNamePrefix"}}


def test_an_alarm_topic_subscription_is_made_only_when_a_topic_is_named() -> None:
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for name in ("AlarmTriggerTopicSubscription", "AlarmTriggerTopicPermission"):
        assert TEMPLATE["Resources"][name]["Condition"] == "HasAlarmTopic"
    assert properties("AlarmTriggerTopicSubscription")["Protocol"] == "lambda"
    permission = properties("AlarmTriggerTopicPermission")
    assert (permission["Principal"], permission["SourceArn"]) == ("sns.amazonaws.com", {"Ref": "AlarmTopicArn"})


def test_alarm_actions_may_invoke_the_trigger_only_for_this_accounts_opted_in_alarms() -> None:
    permission = properties("AlarmTriggerAlarmActionPermission")
    assert permission["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AlarmNamePrefix}*"}


def test_the_sweep_is_scheduled_but_starts_disabled() -> None:
    schedule = properties("SweepStateMachine")["Events"]["Schedule"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["State"] == {"Ref": "SweepScheduleState"}
    assert TEMPLATE["Parameters"]["SweepScheduleState"]["Default"] == "DISABLED"


@pytest.mark.parametrize(("alarm", "metric", "source"), [
    ("RemediationsFailedAlarm", "ExecutionsFailed", "RemediateStateMachine"),
    ("RemediationsTimedOutAlarm", "ExecutionsTimedOut", "RemediateStateMachine"),
    ("SweepsFailedAlarm", "ExecutionsFailed", "SweepStateMachine"),
])
def test_failures_page_through_the_topic(alarm: str, metric: str, source: str) -> None:
    config = properties(alarm)
    assert (config["Namespace"], config["MetricName"]) == ("AWS/States", metric)
    assert config["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": source}}]
    assert config["AlarmActions"] == [{"Ref": "NotificationTopic"}]
    assert config["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")


def test_the_topic_key_lets_the_stacks_alarms_publish() -> None:
    # alias/aws/sns would encrypt too, but its key policy cannot admit CloudWatch: alarms would be lost.
    assert properties("NotificationTopic")["KmsMasterKeyId"] == {"Fn::GetAtt": ["NotificationKey", "Arn"]}
    key = properties("NotificationKey")
    assert key["EnableKeyRotation"] is True
    cloudwatch = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1 and set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert cloudwatch[0]["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"}
    assert properties("NotificationEmailSubscription")["Endpoint"] == {"Ref": "NotificationEmail"}
    assert RESOURCES["NotificationEmailSubscription"]["Condition"] == "HasNotificationEmail"


def test_outputs_name_what_an_operator_looks_for() -> None:
    assert {"RemediateStateMachineArn", "SweepStateMachineArn", "LockTableName", "AuditTableName",
            "LifecycleTableName", "NotificationTopicArn", "GroupsParameterName"} <= TEMPLATE["Outputs"].keys()


def test_samconfig_defaults() -> None:
    config = tomllib.loads((infra_check.TEMPLATE.parent / "samconfig.toml").read_text())["default"]
    assert config["global"]["parameters"]["stack_name"] == "nightshift"
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
    assert deploy["resolve_s3"] is True and deploy["confirm_changeset"] is True


def test_only_the_functions_that_start_instances_may_use_the_ebs_keys_and_only_when_given() -> None:
    assert TEMPLATE["Parameters"]["EbsKmsKeyArns"]["Default"] == ""
    starters, users = set(), set()
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["Statement"]:
                if "Fn::If" in statement:
                    condition, grant, _ = statement["Fn::If"]
                    assert condition == "HasEbsKmsKeys" and grant["Resource"] == {"Ref": "EbsKmsKeyArns"}
                    assert all(a.startswith("kms:") for a in as_list(grant["Action"]))
                    assert grant["Condition"]["StringEquals"]["kms:ViaService"] == {
                        "Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}
                    if "kms:CreateGrant" in as_list(grant["Action"]):
                        assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
                    users.add(name)
                elif "ec2:StartInstances" in as_list(statement["Action"]):
                    starters.add(name)
    assert starters and users == starters


def test_blocking_alarms_are_read_with_a_star_so_composite_alarms_are_returned() -> None:
    # AWS: DescribeAlarms returns composite alarms only with cloudwatch:DescribeAlarms scoped to *
    found = [s for _, s in _function_statements() if "cloudwatch:DescribeAlarms" in as_list(s["Action"])]
    assert found and all(s["Resource"] == "*" for s in found)


def test_the_alarm_trigger_writes_only_its_alarm_claims_in_the_lock_table() -> None:
    from steps.store import alarm_claims, claim

    lock_table = [s for s in statements("AlarmTriggerFunction") if s["Resource"] == {"Fn::GetAtt": ["LockTable",
                                                                                                    "Arn"]}]
    # it reads (only reads) a remediation's instance claim: the group of an instance in no target group
    reads = [s for s in lock_table if s["Sid"] == "ReadRemediationClaim"]
    assert len(reads) == 1 and as_list(reads[0]["Action"]) == ["dynamodb:GetItem"]
    assert reads[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{claim.PREFIX}*"]}}
    writes = [s for s in lock_table if s["Sid"] != "ReadRemediationClaim"]
    # GetItem: it reads its claim back (was ALARM_STARTED written yet?) before it marks it audited
    assert len(writes) == 1 and as_list(writes[0]["Action"]) == ["dynamodb:PutItem", "dynamodb:UpdateItem",
                                                                 "dynamodb:GetItem"]
    assert writes[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [
        f"{alarm_claims.PREFIX}*"]}}


def test_termination_events_trigger_a_drain() -> None:
    events = properties("TerminationTriggerFunction")["Events"]
    assert {name: e["Properties"]["Pattern"] for name, e in events.items()} == {
        "ScaleInLifecycleAction": {"source": ["aws.autoscaling"],
                                   "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
                                   # only Nightshift's hook: a group's other hooks' actions are their owners'
                                   "detail": {"LifecycleHookName": ["nightshift-drain"]}},
        "SpotInterruptionWarning": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}}
    assert properties("TerminationTriggerFunction")["Environment"]["Variables"] == {
        "NIGHTSHIFT_DRAIN_STATE_MACHINE_ARN": {"Ref": "DrainStateMachine"}}


def test_the_drain_role_invokes_only_its_steps() -> None:
    actions = _role_actions("DrainStateMachineRole")
    invoked = {r["Fn::GetAtt"][0] + "Arn" for r in actions.pop("lambda:InvokeFunction")[0]}
    assert invoked == _lambda_placeholders("DrainStateMachine")
    assert set(actions) == DELIVERY


def test_lifecycle_actions_are_scoped_by_the_auto_scaling_groups_tag() -> None:
    found = {}
    for function, statement in _function_statements():
        for action in as_list(statement["Action"]):
            if action in ("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"):
                found[action] = (function, statement["Condition"]["StringEquals"], statement["Resource"])
    assert found == {
        "autoscaling:CompleteLifecycleAction": (
            "CompleteLifecycleActionFunction", {"autoscaling:ResourceTag/nightshift:managed": "true"},
            {"Fn::Sub": "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:"
                        "autoScalingGroupName/*"}),
        "autoscaling:RecordLifecycleActionHeartbeat": (
            "CheckTerminationDrainFunction", {"autoscaling:ResourceTag/nightshift:managed": "true"},
            {"Fn::Sub": "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:"
                        "autoScalingGroupName/*"})}
