"""A stack deployed from the translated template into moto, and the IAM questions a test asks it.

moto creates the resources but enforces no IAM, and ignores DefinitionSubstitutions. So this module
1. writes each state machine's DefinitionSubstitutions into its definition (what Step Functions does),
2. resolves the template's intrinsic functions against the deployed stack (physical ids, parameters),
3. evaluates, for a recorded AWS call, whether the caller's policy in the template allows it: action,
   resource ARN, and the tag conditions (aws:ResourceTag/..., ssm:resourceTag/...) against the real tags.
The evaluator covers what this template uses (Allow statements, Resource patterns, StringEquals on tags,
ForAllValues:StringLike on dynamodb:LeadingKeys, the partition key values of the items a call touches);
anything else it does not understand counts as not allowed, so it can only be too strict.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")
NO_VALUE = object()


def with_substitutions_inlined(template: dict[str, Any]) -> dict[str, Any]:
    """Each AWS::StepFunctions::StateMachine's DefinitionSubstitutions, spliced into its DefinitionString
    as Fn::Join parts, so that moto (which ignores DefinitionSubstitutions) gets the real ARNs and names."""
    result = copy.deepcopy(template)
    for resource in result["Resources"].values():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        properties = resource["Properties"]
        substitutions = properties.pop("DefinitionSubstitutions", {})
        separator, lines = properties["DefinitionString"]["Fn::Join"]
        text = separator.join(lines)
        parts: list[Any] = []
        position = 0
        for match in PLACEHOLDER.finditer(text):
            parts += [text[position:match.start()], substitutions[match.group(1)]]
            position = match.end()
        parts.append(text[position:])
        properties["DefinitionString"] = {"Fn::Join": ["", parts]}
    return result


def hand_state_machines_to_the_engine(client: Any, account: str, region: str) -> list[str]:
    """Gap in moto 5.2.5: with ``execute_state_machine`` on, the Step Functions API is served by the
    executing backend (moto.stepfunctions.parser), but CloudFormation creates state machines in the
    classic backend, where the API cannot see them. Re-create each one through the API, from the
    definition CloudFormation resolved (ARNs and names substituted), with the same name and role."""
    from moto.stepfunctions.models import stepfunctions_backends

    created = []
    for machine in stepfunctions_backends[account][region].state_machines:
        response = client.create_state_machine(name=machine.name, definition=machine.definition,
                                               roleArn=machine.roleArn, type=machine.type or "STANDARD")
        created.append(str(response["stateMachineArn"]))
    return created


@dataclass
class DeployedStack:
    template: dict[str, Any]  # the translated template that was deployed
    name: str
    region: str
    account: str
    parameters: dict[str, str]
    physical: dict[str, str]  # logical id -> physical id, from list_stack_resources
    tags_of: Callable[[str], dict[str, str]]  # resource ARN -> its tags
    _conditions: dict[str, bool] = field(default_factory=dict)

    # -- intrinsic functions -------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": "aws",
                  "AWS::StackName": self.name, "AWS::NoValue": NO_VALUE, "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name].get("Default", ""))
        return self.physical[name]

    def arn(self, logical: str) -> str:
        kind = self.template["Resources"][logical]["Type"]
        physical = self.physical[logical]
        prefix = f"arn:aws:{{}}:{self.region}:{self.account}"
        return {
            "AWS::DynamoDB::Table": lambda: f"{prefix.format('dynamodb')}:table/{physical}",
            "AWS::Lambda::Function": lambda: f"{prefix.format('lambda')}:function:{physical}",
            "AWS::KMS::Key": lambda: f"{prefix.format('kms')}:key/{physical}",
            "AWS::SQS::Queue": lambda: f"{prefix.format('sqs')}:{physical.rsplit('/', 1)[-1]}",
            "AWS::Logs::LogGroup": lambda: f"{prefix.format('logs')}:log-group:{physical}:*",
            "AWS::IAM::Role": lambda: f"arn:aws:iam::{self.account}:role/{physical}",
        }.get(kind, lambda: physical)()  # state machines, topics: the physical id is the ARN

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(argument)
        return {k: self.resolve(v) for k, v in value.items()}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self.ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": lambda a: self.resolve(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Equals": lambda a: str(self.resolve(a[0])) == str(self.resolve(a[1])),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::And": lambda a: all(self.resolve(x) for x in a),
            "Fn::Or": lambda a: any(self.resolve(x) for x in a),
            "Fn::Join": lambda a: a[0].join(str(i) for i in self.resolve(a[1])),
            "Condition": self.condition,
        }

    def _get_att(self, argument: Any) -> str:
        logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        assert attribute == "Arn", f"GetAtt {logical}.{attribute} is not modelled"
        return self.arn(logical)

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                return self._get_att(name)
            return str(self.ref(name))

        return SUB_VARIABLE.sub(substitute, text)

    # -- policies --------------------------------------------------------------------------------------
    def role_of(self, logical: str) -> str:
        properties = self.template["Resources"][logical]["Properties"]
        role = properties.get("Role") or properties.get("RoleArn")
        return str(role["Fn::GetAtt"][0])

    def statements(self, principal: str) -> list[dict[str, Any]]:
        """The inline policy statements of the role the function or state machine runs as, resolved."""
        role = self.template["Resources"][self.role_of(principal)]["Properties"]
        found = []
        for policy in role.get("Policies", []):
            statements = policy["PolicyDocument"]["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                resolved = self.resolve(statement)
                if resolved is not NO_VALUE:  # a statement under a false condition (!If with AWS::NoValue)
                    found.append(resolved)
        return found

    def request_context(self, action: str, params: dict[str, Any]) -> dict[str, list[str]]:
        """Request condition keys: ``dynamodb:LeadingKeys``, the partition key value of the item a GetItem,
        PutItem, UpdateItem or DeleteItem names (the table's HASH attribute in the template)."""
        if not action.startswith("dynamodb:") or not isinstance(params.get("Key") or params.get("Item"), dict):
            return {}
        item = params.get("Key") or params.get("Item")
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::DynamoDB::Table" and self.physical.get(logical) == params["TableName"]:
                hash_key = next(k["AttributeName"] for k in resource["Properties"]["KeySchema"]
                                if k["KeyType"] == "HASH")
                value = (item or {}).get(hash_key)
                return {"dynamodb:LeadingKeys": [str(next(iter(value.values())))]} if value else {}
        return {}

    def denial(self, principal: str, action: str, resources: list[str],
               context: dict[str, list[str]] | None = None) -> str | None:
        """Why ``principal``'s policy does not allow ``action`` on every one of ``resources`` (an empty list:
        an action without resource-level permissions, which needs Resource "*"); None when allowed.
        ``context``: the request's condition keys (``request_context``)."""
        statements = self.statements(principal)
        for resource in resources or [None]:
            if not any(self._allows(s, action, resource, context or {}) for s in statements):
                return f"{principal} may not {action} on {resource or '*'}"
        return None

    def _allows(self, statement: dict[str, Any], action: str, resource: str | None,
                context: dict[str, list[str]] | None = None) -> bool:
        if statement.get("Effect") != "Allow":
            return False
        actions = [a.lower() for a in _as_list(statement.get("Action", []))]
        if not any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in actions):
            return False
        patterns = [str(r) for r in _as_list(statement.get("Resource", []))]
        if resource is None:
            if "*" not in patterns:
                return False
        elif not any(fnmatch.fnmatchcase(resource, pattern) for pattern in patterns):
            return False
        return self._conditions_hold(statement.get("Condition", {}), resource, context or {})

    def _conditions_hold(self, conditions: dict[str, Any], resource: str | None,
                         context: dict[str, list[str]]) -> bool:
        for operator, tests in conditions.items():
            if operator == "ForAllValues:StringLike":
                # Every value of the request key matches a pattern. (IAM also holds it for a request without
                # the key; stricter here: an absent key is not allowed.)
                for key, patterns in tests.items():
                    values = context.get(key)
                    if not values or not all(any(fnmatch.fnmatchcase(v, p) for p in _as_list(patterns))
                                             for v in values):
                        return False
                continue
            if operator != "StringEquals":
                return False  # not modelled: be strict
            for key, expected in tests.items():
                tag = re.fullmatch(r"(?:aws:ResourceTag|ssm:resourceTag|ec2:ResourceTag|"
                                   r"elasticloadbalancing:ResourceTag)/(.+)", key)
                if tag is None or resource is None:
                    return False
                if self.tags_of(resource).get(tag.group(1)) not in _as_list(expected):
                    return False
        return True


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def call_resources(action: str, params: dict[str, Any], region: str, account: str) -> list[str]:
    """The resource ARNs IAM authorises ``action`` against, from the call's parameters."""
    service = action.partition(":")[0]
    instance = f"arn:aws:ec2:{region}:{account}:instance/{{}}"
    if service == "dynamodb":
        table = f"arn:aws:dynamodb:{region}:{account}:table/{params['TableName']}"
        return [f"{table}/index/{params['IndexName']}" if params.get("IndexName") else table]
    if action == "cloudwatch:DescribeAlarms":
        return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}" for name in params.get("AlarmNames", [])]
    if action == "ssm:GetParameter":
        name = params["Name"] if params["Name"].startswith("/") else f"/{params['Name']}"
        return [f"arn:aws:ssm:{region}:{account}:parameter{name}"]
    if action == "ssm:SendCommand":
        return [f"arn:aws:ssm:{region}::document/{params['DocumentName']}",
                *(instance.format(i) for i in params["InstanceIds"])]
    if action == "ec2:RebootInstances":
        return [instance.format(i) for i in params["InstanceIds"]]
    if action in {"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"}:
        return [params["TargetGroupArn"]]
    if action in {"states:DescribeExecution", "states:StopExecution"}:
        return [params["executionArn"]]
    if action == "states:StartExecution":
        return [params["stateMachineArn"]]
    if action == "lambda:InvokeFunction":
        name = str(params["FunctionName"])
        return [name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"]
    if action == "cloudwatch:ListTagsForResource":
        return [params["ResourceARN"]]
    return []  # Describe*, GetMetricData, GetCommandInvocation: no resource-level permissions
