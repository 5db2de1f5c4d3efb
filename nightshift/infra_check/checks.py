"""The offline checks that keep the template, the ASL files and the step catalogue in step.

- placeholders:        every ${Placeholder} of each ASL file has a DefinitionSubstitutions entry, and
                       every entry is used; every ASL file is deployed by a state machine.
- lambda-placeholders: every Lambda ARN placeholder resolves to a function of the template, which is
                       the catalogue's function for it (nightshift/functions.py: handler and name).
- retry:               every Task state, nested ones too, has a Retry.
- iam-wildcards:       no Allow statement grants a wildcard action ("*", "svc:*", "svc:Prefix*") that can
                       match a mutating call (one not named Describe*/Get*/List*), nor uses NotAction.

Each problem names the file, the resource or state, and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightshift.functions import STEP_FUNCTIONS, StepFunction
from nightshift.infra_check import asl

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"})
STATE_MACHINE_TYPES = frozenset({"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"})
READ_ONLY_PREFIXES = ("describe", "get", "list")
WILDCARDS = ("*", "?")


@dataclass(frozen=True)
class Problem:
    check: str
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.file}: {self.where}: {self.message}"


@dataclass(frozen=True)
class StateMachineSource:
    """A state machine of the template and the ASL it deploys."""

    logical_id: str
    asl_path: Path | None  # None when the definition is inline
    document: dict[str, Any] | None
    substitutions: dict[str, Any]


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def resources(template: dict[str, Any], types: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = set(types)
    return {name: r for name, r in (template.get("Resources") or {}).items()
            if isinstance(r, dict) and r.get("Type") in wanted}


def state_machines(template: dict[str, Any], template_path: Path) -> list[StateMachineSource]:
    found = []
    for logical_id, resource in resources(template, STATE_MACHINE_TYPES).items():
        properties = resource.get("Properties") or {}
        substitutions = properties.get("DefinitionSubstitutions") or {}
        uri = properties.get("DefinitionUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            path = (template_path.parent / uri).resolve()
            document = asl.load(path) if path.is_file() else None
            found.append(StateMachineSource(logical_id, path, document, substitutions))
        elif isinstance(properties.get("Definition"), dict):
            found.append(StateMachineSource(logical_id, None, properties["Definition"], substitutions))
    return found


# -- (d) placeholders ---------------------------------------------------------------------------------
def check_placeholders(template: dict[str, Any], template_path: Path, asl_files: Sequence[Path],
                       root: Path | None = None) -> list[Problem]:
    problems: list[Problem] = []
    shown_template = _display(template_path, root)
    machines = state_machines(template, template_path)
    deployed = {m.asl_path for m in machines if m.asl_path is not None}
    for path in asl_files:
        if path.resolve() not in deployed:
            problems.append(Problem("placeholders", _display(path, root), "(whole file)",
                                    f"no state machine in {shown_template} deploys it (DefinitionUri); add one"))
    for machine in machines:
        where = f"Resources.{machine.logical_id}"
        if machine.document is None:
            problems.append(Problem("placeholders", shown_template, where,
                                    f"DefinitionUri {machine.asl_path} does not exist"))
            continue
        source = _display(machine.asl_path, root) if machine.asl_path else f"{where} (inline Definition)"
        used = asl.placeholders(machine.asl_path.read_text() if machine.asl_path else str(machine.document))
        for name in sorted(used - set(machine.substitutions)):
            problems.append(Problem("placeholders", source, f"${{{name}}}",
                                    f"no DefinitionSubstitutions entry in {shown_template} {where}; add {name}"))
        for name in sorted(set(machine.substitutions) - used):
            problems.append(Problem("placeholders", shown_template, f"{where}.DefinitionSubstitutions.{name}",
                                    f"{source} has no ${{{name}}}; remove the entry or use it"))
    return problems


# -- (e) Lambda placeholders -> functions ---------------------------------------------------------------
def _function_reference(value: Any) -> tuple[str | None, str | None]:
    """(logical id of the function a substitution names, why it is wrong when it is)."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, list) and len(target) == 2 and target[1] == "Arn":
                return str(target[0]), None
            return None, "must be !GetAtt <Function>.Arn"
        if "Ref" in value:
            return str(value["Ref"]), "!Ref gives the function's name, not its ARN; use !GetAtt <Function>.Arn"
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            if text.startswith("${") and text.endswith(".Arn}"):
                return text[2:-5], None
    return None, "must be !GetAtt <Function>.Arn of a function in this template"


def _expected_name_suffix(entry: StepFunction) -> str:
    return f"-{entry.name}"


def check_lambda_placeholders(template: dict[str, Any], template_path: Path,
                              catalogue: Sequence[StepFunction] = STEP_FUNCTIONS,
                              root: Path | None = None) -> list[Problem]:
    problems: list[Problem] = []
    shown_template = _display(template_path, root)
    functions = resources(template, FUNCTION_TYPES)
    by_placeholder = {entry.placeholder: entry for entry in catalogue}
    for machine in state_machines(template, template_path):
        if machine.document is None:
            continue
        source = _display(machine.asl_path, root) if machine.asl_path else f"Resources.{machine.logical_id}"
        for name, used_by in sorted(asl.lambda_placeholders(machine.document).items()):
            where = f"${{{name}}} (Task {', '.join(repr(s) for s in used_by)})"
            if name not in machine.substitutions:
                problems.append(Problem("lambda-placeholders", source, where,
                                        f"maps to no function: Resources.{machine.logical_id} has no substitution"))
                continue
            logical_id, wrong = _function_reference(machine.substitutions[name])
            if wrong and logical_id not in functions:
                problems.append(Problem("lambda-placeholders", shown_template,
                                        f"Resources.{machine.logical_id}.DefinitionSubstitutions.{name}", wrong))
                continue
            if logical_id not in functions:
                problems.append(Problem("lambda-placeholders", shown_template,
                                        f"Resources.{machine.logical_id}.DefinitionSubstitutions.{name}",
                                        f"names {logical_id}, which is not a function of the template"))
                continue
            if wrong:
                problems.append(Problem("lambda-placeholders", shown_template,
                                        f"Resources.{machine.logical_id}.DefinitionSubstitutions.{name}", wrong))
            entry = by_placeholder.get(name)
            if entry is None:
                problems.append(Problem("lambda-placeholders", source, where,
                                        "not in nightshift/functions.py STEP_FUNCTIONS: the local runtime "
                                        "cannot route it; add the step to the catalogue"))
                continue
            problems.extend(_function_matches_catalogue(functions[logical_id], logical_id, entry, shown_template))
    for entry in catalogue:
        if not any(_handler(f) == f"steps.{entry.module}.handler" for f in functions.values()):
            problems.append(Problem("lambda-placeholders", shown_template, "Resources",
                                    f"no function has Handler steps.{entry.module}.handler "
                                    f"(catalogue entry {entry.name!r})"))
    return problems


def _handler(function: dict[str, Any]) -> Any:
    return (function.get("Properties") or {}).get("Handler")


def _function_matches_catalogue(function: dict[str, Any], logical_id: str, entry: StepFunction,
                                shown_template: str) -> list[Problem]:
    problems = []
    handler = _handler(function)
    if handler != f"steps.{entry.module}.handler":
        problems.append(Problem("lambda-placeholders", shown_template, f"Resources.{logical_id}.Properties.Handler",
                                f"is {handler!r}; {entry.placeholder} is steps.{entry.module}.handler in "
                                "nightshift/functions.py"))
    name = (function.get("Properties") or {}).get("FunctionName")
    text = name.get("Fn::Sub") if isinstance(name, dict) else name
    if not (isinstance(text, str) and text.endswith(_expected_name_suffix(entry))):
        problems.append(Problem("lambda-placeholders", shown_template,
                                f"Resources.{logical_id}.Properties.FunctionName",
                                f"must end with {_expected_name_suffix(entry)!r} (the local runtime routes by it)"))
    return problems


# -- (f) Retry on every Task ------------------------------------------------------------------------------
def check_retries(asl_files: Sequence[Path], root: Path | None = None) -> list[Problem]:
    problems = []
    for path in asl_files:
        for state in asl.states(asl.load(path)):
            if state.type == "Task" and not state.definition.get("Retry"):
                problems.append(Problem("retry", _display(path, root), f"state {state.path!r}",
                                        "Task without Retry: add one for throttling and transient errors"))
    return problems


# -- (g) IAM wildcard actions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    where: str
    statement: dict[str, Any]


def policy_statements(template: dict[str, Any]) -> Iterator[Statement]:
    """Every statement of every policy document anywhere in the template (roles, SAM Policies, key and
    topic policies...): any mapping with a "Statement" whose entries carry an "Effect"."""

    def walk(value: Any, where: str) -> Iterator[Statement]:
        if isinstance(value, dict):
            statements = value.get("Statement")
            if isinstance(statements, dict):
                statements = [statements]
            if isinstance(statements, list):  # a conditional statement: !If [Cond, statement, AWS::NoValue]
                statements = [branch for s in statements
                              for branch in (s["Fn::If"][1:] if isinstance(s, dict) and "Fn::If" in s else [s])
                              if branch != {"Ref": "AWS::NoValue"}]
            if isinstance(statements, list) and statements and all(
                    isinstance(s, dict) and "Effect" in s for s in statements):
                for index, statement in enumerate(statements):
                    sid = f" (Sid {statement['Sid']})" if statement.get("Sid") else ""
                    yield Statement(f"{where}.Statement[{index}]{sid}", statement)
                return
            for key, item in value.items():
                yield from walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{where}[{index}]")

    yield from walk(template.get("Resources") or {}, "Resources")


def mutating_wildcard(action: str) -> bool:
    """True when the action pattern has a wildcard that can match a call not named Describe/Get/List."""
    if not any(w in action for w in WILDCARDS):
        return False
    service, _, name = action.partition(":")
    if not name or any(w in service for w in WILDCARDS):
        return True  # "*", "*:Get*"
    literal = name.split("*", 1)[0].split("?", 1)[0].lower()
    return not literal.startswith(READ_ONLY_PREFIXES)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_iam_wildcards(template: dict[str, Any], file: str) -> list[Problem]:
    problems = []
    for found in policy_statements(template):
        statement = found.statement
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            problems.append(Problem("iam-wildcards", file, found.where,
                                    "Allow with NotAction grants every other action, mutating ones included"))
        for action in _as_list(statement.get("Action", [])):
            if isinstance(action, str) and mutating_wildcard(action):
                problems.append(Problem("iam-wildcards", file, found.where,
                                        f"wildcard action {action!r} can match mutating calls; "
                                        "list the actions it needs"))
    return problems
