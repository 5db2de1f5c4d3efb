"""The layout rule of steps/ (docs/design.md "Layout"): the tree shows which state machine a module serves.

- every module lives in a package (steps/*.py is only ``__init__.py``);
- each catalogued step (nightshift/functions.py) lives in the package of the workflow that invokes it:
  a Task of statemachine/remediate.asl.json in ``steps.remediate``, of sweep.asl.json in ``steps.sweep``, of
  drain.asl.json (the termination drain) in ``steps.drain``, a step no state machine invokes (EventBridge
  does) in ``steps.triggers``;
- every module of a workflow package is one of that workflow's steps or imported (directly or not) by one;
- the shared packages (``steps.core``, ``steps.domain``, ``steps.aws``, ``steps.store``) import no workflow
  package, the remediation imports neither the sweep, the termination drain nor the triggers, and the
  termination drain imports neither the sweep nor the triggers.

The import graph is read from the source with ``ast`` (tests/unit/test_import_cycles.py): deferred imports
and ``if TYPE_CHECKING:`` imports count.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

from nightshift.functions import STEP_FUNCTIONS, StepFunction
from tests.unit.test_import_cycles import import_graph, module_files

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ("remediate", "sweep", "drain", "triggers")
SHARED = ("core", "domain", "aws", "store")
# package -> the workflow packages it must not import. The sweep may use the remediation's modules (its
# reconciler puts instances back with steps.remediate.put_back and .standby, as the restore path does), and so
# may the termination drain (the remediation's deregistration and drain check: shared, not copied).
FORBIDDEN = {**{package: set(WORKFLOWS) for package in SHARED}, "remediate": {"sweep", "drain", "triggers"},
             "drain": {"sweep", "triggers"}}


def machine_steps(root: Path = ROOT) -> dict[str, list[StepFunction]]:
    """Workflow package -> the catalogued steps it holds: from each ASL's Lambda placeholders, and the steps no
    ASL invokes (the triggers)."""
    by_placeholder = {f.placeholder: f for f in STEP_FUNCTIONS if f.placeholder}
    found: dict[str, list[StepFunction]] = {}
    for machine in ("remediate", "sweep", "drain"):
        text = (root / "statemachine" / f"{machine}.asl.json").read_text()
        found[machine] = [by_placeholder[p] for p in sorted(set(re.findall(r"\$\{(\w+FunctionArn)\}", text)))]
    found["triggers"] = [f for f in STEP_FUNCTIONS if f.placeholder is None]
    return found


def package_of(module: str) -> str | None:
    """``steps.<package>.x`` -> package; None for ``steps`` itself and anything outside steps."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "steps" else None


def reachable(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph.get(module, ())
    return seen


def violations(root: Path = ROOT) -> list[str]:
    modules = module_files(root)
    graph = import_graph(modules)
    problems = [f"{path.relative_to(root)}: a module outside the packages of steps/"
                for name, path in modules.items()
                if name.count(".") == 1 and name.startswith("steps.") and path.name != "__init__.py"]
    steps = machine_steps(root)
    for workflow, functions in steps.items():
        for function in functions:
            if not function.module.startswith(f"{workflow}."):
                problems.append(f"steps.{function.module}: a {workflow} step outside steps/{workflow}/")
        used = reachable(graph, {f"steps.{f.module}" for f in functions})
        for module in sorted(m for m in modules if package_of(m) == workflow):
            if module not in used:
                problems.append(f"{module}: neither a {workflow} step nor imported by one")
    for module, imports in sorted(graph.items()):
        package = package_of(module)
        for target in sorted(imports):
            if package in FORBIDDEN and package_of(target) in FORBIDDEN[package]:
                problems.append(f"{module} imports {target}: " + ("the shared core imports no workflow"
                                if package in SHARED else f"the {package} workflow imports no {package_of(target)}"))
    return problems


def test_the_layout_shows_the_workflows() -> None:
    steps = machine_steps()
    assert {w: len(fs) for w, fs in steps.items()} == {"remediate": 17, "sweep": 3, "drain": 3, "triggers": 2}
    assert violations() == []


# -- the rule can fail: a copy of steps/ with one thing out of place ----------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in ("steps", "statemachine"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                target = tmp_path / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(path.read_text())
    (tmp_path / "nightshift").mkdir()
    (tmp_path / "nightshift" / "__init__.py").write_text("")
    assert violations(tmp_path) == []
    return tmp_path


def test_the_core_importing_a_workflow_fails(tree: Path) -> None:
    config = tree / "steps" / "core" / "config.py"
    config.write_text(config.read_text() + "\nfrom steps.remediate import lease  # noqa\n")
    assert violations(tree) == ["steps.core.config imports steps.remediate.lease: the shared core imports no "
                                "workflow"]


def test_a_deferred_store_import_of_the_sweep_fails(tree: Path) -> None:
    lock = tree / "steps" / "store" / "lock.py"
    lock.write_text(lock.read_text() + "\ndef f():\n    from steps.sweep import reconcile\n")
    assert violations(tree) == ["steps.store.lock imports steps.sweep.reconcile: the shared core imports no "
                                "workflow"]


def test_the_remediation_importing_the_sweep_fails(tree: Path) -> None:
    notify = tree / "steps" / "remediate" / "notify.py"
    notify.write_text(notify.read_text() + "\nimport steps.sweep.reconcile\n")
    assert violations(tree) == ["steps.remediate.notify imports steps.sweep.reconcile: the remediate workflow "
                                "imports no sweep"]


def test_a_module_no_step_uses_fails(tree: Path) -> None:
    (tree / "steps" / "sweep" / "orphan.py").write_text("X = 1\n")
    assert violations(tree) == ["steps.sweep.orphan: neither a sweep step nor imported by one"]


def test_a_module_outside_the_packages_fails(tree: Path) -> None:
    (tree / "steps" / "helpers.py").write_text("X = 1\n")
    assert violations(tree) == ["steps/helpers.py: a module outside the packages of steps/"]


def test_a_step_outside_its_workflow_package_fails(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The reconciler (a Task of sweep.asl.json) catalogued and filed under the remediation's package.
    moved = tuple(dataclasses.replace(f, module="remediate.reconcile") if f.name == "reconcile" else f
                  for f in STEP_FUNCTIONS)
    monkeypatch.setattr(sys.modules[__name__], "STEP_FUNCTIONS", moved)
    (tree / "steps" / "sweep" / "reconcile.py").rename(tree / "steps" / "remediate" / "reconcile.py")
    assert violations(tree) == ["steps.remediate.reconcile: neither a remediate step nor imported by one",
                                "steps.remediate.reconcile: a sweep step outside steps/sweep/"]


def test_the_remediation_importing_the_termination_drain_fails(tree: Path) -> None:
    notify = tree / "steps" / "remediate" / "notify.py"
    notify.write_text(notify.read_text() + "\nimport steps.drain.complete_lifecycle_action\n")
    assert violations(tree) == ["steps.remediate.notify imports steps.drain.complete_lifecycle_action: the "
                                "remediate workflow imports no drain"]


def test_the_termination_drain_importing_the_sweep_fails(tree: Path) -> None:
    check = tree / "steps" / "drain" / "check_termination_drain.py"
    check.write_text(check.read_text() + "\nimport steps.sweep.reconcile\n")
    assert violations(tree) == ["steps.drain.check_termination_drain imports steps.sweep.reconcile: the drain "
                                "workflow imports no sweep"]
