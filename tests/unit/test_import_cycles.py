"""No import cycle anywhere in steps/ or nightshift/ (issue 15: "no import cycle anywhere").

The graph is read from the source with ``ast``, not by importing: every ``import``/``from ... import`` in a
module counts, at module level, inside a function (a deferred import still ties the two modules together) and
under ``if TYPE_CHECKING:`` (never executed, but two modules that name each other's types cannot be read,
typed or moved apart: the simulator's answerers and ``fleet.py`` were such a pair, and so were
``steps.core.config`` and ``steps.domain.history``). ``from package import name`` is an edge to
``package.name`` when that is a module, else to ``package``. Importing ``a.b.c`` also runs ``a/__init__`` and
``a/b/__init__``; those implicit edges are not counted (every submodule would otherwise "import" its
package's re-exports).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("steps", "nightshift")


def module_files(root: Path = ROOT) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (``if TYPE_CHECKING:`` bodies and functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")
                    if not is_package:
                        anchor = anchor[:-1]
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    edges.add(resolved)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_cycle_in_steps_or_nightshift() -> None:
    modules = module_files()
    assert "nightshift.sim.fleet" in modules and "steps.core.config" in modules  # the walk found the packages
    found = cycles(import_graph(modules))
    assert found == [], "import cycles (each line one strongly connected set of modules):\n" + "\n".join(
        " <-> ".join(component) for component in found)


# -- the detector itself can fail -----------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(tmp_path)


def test_detector_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "nightshift/__init__.py": "",
        "nightshift/a.py": "from nightshift import b\n",
        "nightshift/b.py": "def f():\n    from nightshift.c import x\n",
        "nightshift/c.py": "import nightshift.a\n",
        "steps/__init__.py": "",
    })
    assert cycles(import_graph(modules)) == [["nightshift.a", "nightshift.b", "nightshift.c"]]


def test_detector_finds_a_relative_import_cycle(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "nightshift/__init__.py": "",
        "steps/__init__.py": "",
        "steps/config.py": "from .domain.x import y\n",
        "steps/domain/__init__.py": "",
        "steps/domain/x.py": "from .. import config\n",
    })
    assert cycles(import_graph(modules)) == [["steps.config", "steps.domain.x"]]


def test_detector_counts_type_checking_imports(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "nightshift/__init__.py": "",
        "steps/__init__.py": "",
        "nightshift/a.py": "from nightshift import b\n",
        "nightshift/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nightshift.a import A\n",
        "nightshift/c.py": "import nightshift.a\n",
    })
    assert cycles(import_graph(modules)) == [["nightshift.a", "nightshift.b"]]
