"""Which AWS calls each step function can make, read from the source (no import, no AWS).

A call graph over the ``steps`` package: a node is a module-level function or class; an edge is a
reference to another node (same module, ``from steps.x import f``, or ``module.f`` through an imported
steps module). Leaves are the AWS calls: ``client("svc").operation(...)`` (or ``.get_paginator("operation")``) in
steps/aws/*.py and steps/core/groups.py, a Powertools Parameters provider (``SSMProvider``: the groups
parameter's GetParameter), and the PynamoDB calls of steps/store/*.py (``.save`` PutItem, ``Model.get`` GetItem,
``.delete`` DeleteItem, ``.query`` Query, ``.update`` UpdateItem, ``.exists``/``.describe_table``
DescribeTable), each on its module's table. It over-approximates (every branch counts), which is what a
policy must cover; the template tests compare it with each function's policy in both directions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
STEPS = ROOT / "steps"

# botocore client name -> IAM service prefix
IAM_PREFIX = {"cloudwatch": "cloudwatch", "elbv2": "elasticloadbalancing", "stepfunctions": "states",
              "ssm": "ssm", "ec2": "ec2", "autoscaling": "autoscaling", "sqs": "sqs", "sns": "sns",
              "events": "events"}
# steps/store/tables.py constant -> the table's logical id in infra/template.yaml
TABLE_CONSTANTS = {"LOCK_TABLE": "LockTable", "AUDIT_TABLE": "AuditTable", "LIFECYCLE_TABLE": "LifecycleTable"}
PYNAMODB_CALLS = {"save": "PutItem", "delete": "DeleteItem", "query": "Query", "update": "UpdateItem",
                  "exists": "DescribeTable", "describe_table": "DescribeTable", "scan": "Scan",
                  "batch_get": "BatchGetItem", "batch_write": "BatchWriteItem"}

# library classes whose use sends an AWS call: the Parameters provider steps/core/groups.py reads the declaration with
LIBRARY_CALLS = {"SSMProvider": "ssm:GetParameter"}

# steps/store/tables.py's conditional helpers, called from a store module on that module's model
STORE_HELPERS = {"save_if": "PutItem", "delete_if": "DeleteItem"}


@dataclass(frozen=True)
class Call:
    action: str  # e.g. "ec2:RebootInstances"
    table: str | None = None  # the table's logical id for DynamoDB calls


@dataclass
class Module:
    name: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name -> "steps.x" or "steps.x.f"
    nodes: dict[str, ast.AST] = field(default_factory=dict)  # top-level function/class name -> node


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(STEPS.rglob("*.py")):
        tree = ast.parse(path.read_text())
        module = Module(_module_name(path), tree)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("steps"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    module.imports[alias.asname or alias.name] = target
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                module.nodes[node.name] = node
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                for target in node.targets:  # `handler = check_boot`
                    if isinstance(target, ast.Name):
                        module.nodes[target.id] = node.value
        found[module.name] = module
    return found


@cache
def store_tables() -> dict[str, str]:
    """store module -> the table its models live in, from their ``Meta.table_name = <CONSTANT>``."""
    found: dict[str, str] = {}
    for module in modules().values():
        for node in ast.walk(module.tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Name)
                    and any(isinstance(t, ast.Name) and t.id == "table_name" for t in node.targets)):
                table = TABLE_CONSTANTS.get(node.value.id)
                assert table, f"{module.name}: table_name = {node.value.id} is not a known table"
                assert found.setdefault(module.name, table) == table, f"{module.name} uses two tables"
    return found


@cache
def _api_names(client_name: str) -> dict[str, str]:
    client = boto3.client(client_name, region_name="us-east-1")  # type: ignore[call-overload]
    return dict(client.meta.method_to_api_mapping)


def _aws_call(node: ast.Call) -> str | None:
    """`client("ec2").reboot_instances(...)` -> "ec2:RebootInstances"."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)):
        return None
    inner = func.value
    if not (isinstance(inner.func, ast.Name) and inner.func.id == "client" and inner.args
            and isinstance(inner.args[0], ast.Constant) and isinstance(inner.args[0].value, str)):
        return None
    client_name = inner.args[0].value
    operation = func.attr
    if operation == "get_paginator":  # client("cloudwatch").get_paginator("describe_alarms"): that operation
        if not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            return None
        operation = node.args[0].value
    return f"{IAM_PREFIX[client_name]}:{_api_names(client_name)[operation]}"


def _pynamodb_call(module: Module, node: ast.Call) -> str | None:
    func = node.func
    if module.name not in store_tables() or not isinstance(func, ast.Attribute):
        return None
    if func.attr == "get":  # Model.get(key): only on a model class of this module, not dict.get
        is_model = isinstance(func.value, ast.Name) and isinstance(module.nodes.get(func.value.id), ast.ClassDef)
        return "GetItem" if is_model else None
    return PYNAMODB_CALLS.get(func.attr)


def _edges_and_leaves(module: Module, node: ast.AST) -> tuple[set[tuple[str, str]], set[Call]]:
    edges: set[tuple[str, str]] = set()
    leaves: set[Call] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            helper = STORE_HELPERS.get(sub.func.id) if isinstance(sub.func, ast.Name) else None
            if helper and module.name in store_tables():  # tables.save_if(item, ...) on this module's model
                leaves.add(Call(f"dynamodb:{helper}", store_tables()[module.name]))
            action = _aws_call(sub)
            if action:
                leaves.add(Call(action))
            operation = _pynamodb_call(module, sub)
            if operation:
                leaves.add(Call(f"dynamodb:{operation}", store_tables()[module.name]))
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            if sub.id in LIBRARY_CALLS:
                leaves.add(Call(LIBRARY_CALLS[sub.id]))
            if sub.id in module.nodes:
                edges.add((module.name, sub.id))
            elif sub.id in module.imports and module.imports[sub.id] not in modules():
                edges.add(_split(module.imports[sub.id]))  # an imported function or class
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            target = module.imports.get(sub.value.id)
            if target in modules():  # `elbv2.register` with `from steps.aws import elbv2`
                edges.add((target, sub.attr))
    return edges, leaves


def _split(dotted: str) -> tuple[str, str]:
    """"steps.aws.stepfunctions.execution_status" -> (module, name); a module itself -> (module, "*")."""
    if dotted in modules():
        return dotted, "*"
    module, _, name = dotted.rpartition(".")
    return module, name


def _reachable(start: Iterator[tuple[str, str]]) -> set[Call]:
    seen: set[tuple[str, str]] = set()
    stack = list(start)
    calls: set[Call] = set()
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        module = modules().get(key[0])
        if module is None:
            continue
        names = list(module.nodes) if key[1] == "*" else [key[1]]
        for name in names:
            node = module.nodes.get(name)
            if node is None:
                continue
            edges, leaves = _edges_and_leaves(module, node)
            calls |= leaves
            stack.extend(edges - seen)
    return calls


def calls_of_step(module_name: str) -> set[Call]:
    """Every AWS call reachable from the step module ``steps.<module_name>``."""
    module = modules()[f"steps.{module_name}"]
    return _reachable((module.name, name) for name in module.nodes)
