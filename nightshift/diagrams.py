"""Diagrams for the docs, generated from the sources they describe, never drawn by hand.

    python -m nightshift.diagrams --write   # (re)write docs/diagrams/*.md
    python -m nightshift.diagrams --check   # exit 1 naming every stale, missing or unexpected file

* each ``statemachine/*.asl.json`` as a mermaid flowchart: one node per state (shape by type), an edge for
  every ``Next``, ``Default`` and Choice rule (labelled with its condition), dashed ``Catch`` edges labelled
  with the error names, ``Retry`` noted on the node (and tabled below the diagram), Map item processors and
  Parallel branches as subgraphs;
* the remediation lifecycle (``steps.domain.lifecycle``: ``STATES``, ``TRANSITIONS``) as a mermaid
  ``stateDiagram-v2``.

Node ids are derived from state names (which hold spaces, ``?`` and ``:``) and every label is quoted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATEMACHINE_DIR = ROOT / "statemachine"
OUT_DIR = ROOT / "docs" / "diagrams"
WRITE_COMMAND = "python -m nightshift.diagrams --write"
CHECK_COMMAND = "python -m nightshift.diagrams --check"
TIMES = "\u00d7"  # the multiplication sign
DEFAULT_MAX_ATTEMPTS = 3  # ASL's default when a Retrier leaves MaxAttempts out

# ASL comparison operators -> how the condition reads on an edge.
OPERATORS = {
    "Equals": "==", "LessThan": "<", "GreaterThan": ">", "LessThanEquals": "<=", "GreaterThanEquals": ">=",
    "Matches": "matches",
}
TYPE_CHECKS = {"IsPresent": "is present", "IsNull": "is null", "IsBoolean": "is a boolean",
               "IsNumeric": "is a number", "IsString": "is a string", "IsTimestamp": "is a timestamp"}
RULE_KEYS = {"Next", "Comment", "Assign", "Output", "Variable"}


# -- mermaid text ----------------------------------------------------------------------------------------

def _escape(text: str) -> str:
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("|", "#124;"),
                      ("`", "#96;")):
        text = text.replace(raw, code)
    return text


def quoted(*lines: str) -> str:
    """A mermaid label in double quotes (lines joined by ``<br/>``); characters mermaid would parse are
    written as entity codes."""
    return '"' + "<br/>".join(_escape(line) for line in lines) + '"'


class NodeIds:
    """Stable, safe node ids from state names: ``Is the lock ours?`` -> ``s_is_the_lock_ours``."""

    def __init__(self, prefix: str = "s_") -> None:
        self.prefix = prefix
        self.ids: dict[str, str] = {}
        self.taken: set[str] = set()

    def __call__(self, name: str) -> str:
        if name not in self.ids:
            base = self.prefix + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "state")
            candidate, n = base, 2
            while candidate in self.taken:
                candidate, n = f"{base}_{n}", n + 1
            self.ids[name] = candidate
            self.taken.add(candidate)
        return self.ids[name]


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value)


def condition_text(rule: Mapping[str, Any]) -> str:
    """A Choice rule as one line: ``$.drain.done == true``, ``not ($.x is present)``, ``(a) and (b)``."""
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"]).strip("{% }")
    if "And" in rule or "Or" in rule:
        word = "and" if "And" in rule else "or"
        return f" {word} ".join(f"({condition_text(r)})" for r in rule["And" if "And" in rule else "Or"])
    if "Not" in rule:
        return f"not ({condition_text(rule['Not'])})"
    variable = str(rule.get("Variable", "?"))
    for key, value in rule.items():
        if key in RULE_KEYS:
            continue
        if key in TYPE_CHECKS:
            check = TYPE_CHECKS[key]
            return f"{variable} {check}" if value else f"{variable} not {check.removeprefix('is ')}"
        operand = str(value) if key.endswith("Path") else _literal(value)
        base = key.removesuffix("Path")
        for suffix, op in sorted(OPERATORS.items(), key=lambda item: -len(item[0])):
            if base.endswith(suffix):
                return f"{variable} {op} {operand}"
        return f"{variable} {key} {operand}"
    return variable


def _retry_note(state: Mapping[str, Any]) -> str:
    attempts = [int(r.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)) for r in state.get("Retry") or []]
    parts = []
    if any(attempts):
        parts.append("↻ retry " + ", ".join(f"{TIMES}{n}" for n in attempts if n))
    never = attempts.count(0)
    if never:  # MaxAttempts 0: those errors skip the other retriers (e.g. straight to a Catch)
        parts.append(f"{never} rule{'s' if never > 1 else ''} never retried")
    return " · ".join(parts)


def _node(node_id: str, name: str, state: Mapping[str, Any]) -> str:
    kind = state["Type"]
    lines = [name]
    if kind == "Map":
        items = state.get("ItemsPath") or state.get("Items") or "$"
        limit = state.get("MaxConcurrency")
        lines.append(f"Map over {items}" + (f", at most {limit} at a time" if limit else ""))
    if _retry_note(state):
        lines.append(_retry_note(state))
    text = quoted(*lines)
    shapes = {"Task": "[{}]", "Choice": "{{{}}}", "Wait": "{{{{{}}}}}", "Pass": "({})", "Succeed": "([{}])",
              "Fail": "([{}])", "Map": "[[{}]]", "Parallel": "[[{}]]"}
    return f"{node_id}{shapes.get(kind, '[{}]').format(text)}:::{kind.lower()}"


def _edges(name: str, state: Mapping[str, Any], ids: NodeIds, end_id: str) -> list[str]:
    source = ids(name)
    edges: list[str] = []
    for rule in state.get("Choices") or []:
        edges.append(f"{source} -->|{quoted(condition_text(rule))}| {ids(rule['Next'])}")
    if "Default" in state:
        edges.append(f"{source} -->|{quoted('otherwise')}| {ids(state['Default'])}")
    if "Next" in state:
        edges.append(f"{source} --> {ids(state['Next'])}")
    if state.get("End"):
        edges.append(f"{source} --> {end_id}")
    for catcher in state.get("Catch") or []:
        errors = ", ".join(catcher.get("ErrorEquals") or [])
        edges.append(f"{source} -.->|{quoted('Catch ' + errors)}| {ids(catcher['Next'])}")
    return edges


def _body(machine: Mapping[str, Any], ids: NodeIds, indent: str, end_id: str, lines: list[str],
          edges: list[str], subgraphs: list[str]) -> None:
    """Nodes of one (sub-)machine into ``lines``; its edges into ``edges``; nested processors as subgraphs."""
    for name, state in machine["States"].items():
        lines.append(indent + _node(ids(name), name, state))
        edges.extend(_edges(name, state, ids, end_id))
        inner: list[tuple[str, Mapping[str, Any]]] = []
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                inner.append((f"item processor of {name}", processor))
        for index, branch in enumerate(state.get("Branches") or []):
            inner.append((f"branch {index + 1} of {name}", branch))
        for title, processor in inner:
            sub_id = ids(f"{title} subgraph")
            block = [f"  subgraph {sub_id}[{quoted(title)}]", "    direction TB"]
            sub_edges: list[str] = []
            _body(processor, ids, "    ", end_id, block, sub_edges, subgraphs)
            block.append("  end")
            subgraphs.extend(block)
            edges.append(f"{ids(name)} -.->|{quoted('each item' if 'item' in title else 'branch')}| "
                         f"{ids(processor['StartAt'])}")
            edges.extend(sub_edges)


CLASSES = {
    "task": "fill:#e8f0fb,stroke:#2166ac,color:#111",
    "choice": "fill:#fff6dd,stroke:#b8860b,color:#111",
    "wait": "fill:#eeeaf6,stroke:#542788,color:#111",
    "pass": "fill:#f2f2f2,stroke:#777,color:#111",
    "succeed": "fill:#dff0d8,stroke:#1b7837,color:#111",
    "fail": "fill:#f8d7da,stroke:#b2182b,color:#111",
    "map": "fill:#e0f3f8,stroke:#4393c3,color:#111",
    "parallel": "fill:#e0f3f8,stroke:#4393c3,color:#111",
}


def asl_flowchart(definition: Mapping[str, Any]) -> str:
    """The state machine as mermaid ``flowchart`` text (without the code fence)."""
    ids = NodeIds()
    start_id, end_id = "start_node", "end_node"
    nodes: list[str] = []
    edges: list[str] = [f"{start_id} --> {ids(definition['StartAt'])}"]
    subgraphs: list[str] = []
    _body(definition, ids, "  ", end_id, nodes, edges, subgraphs)
    lines = ["flowchart TD", f"  {start_id}(({quoted('start')}))"]
    lines.extend(nodes)
    if any(end_id in edge for edge in edges):
        lines.append(f"  {end_id}(({quoted('end')}))")
    lines.extend(subgraphs)
    lines.extend(f"  {edge}" for edge in edges)
    lines.extend(f"  classDef {name} {style}" for name, style in CLASSES.items())
    return "\n".join(lines) + "\n"


def _all_states(machine: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _all_states(processor)
        for branch in state.get("Branches") or []:
            yield from _all_states(branch)


def retry_table(definition: Mapping[str, Any]) -> str:
    rows = ["| state | errors | interval | max attempts | backoff | max delay | jitter | note |",
            "|---|---|---|---|---|---|---|---|"]
    for name, state in _all_states(definition):
        for retrier in state.get("Retry") or []:
            rows.append(
                f"| {name} | {', '.join(f'`{e}`' for e in retrier.get('ErrorEquals', []))} "
                f"| {retrier.get('IntervalSeconds', 1)} s | {retrier.get('MaxAttempts', DEFAULT_MAX_ATTEMPTS)} "
                f"| {TIMES}{retrier.get('BackoffRate', 2.0)} | "
                f"{str(retrier['MaxDelaySeconds']) + ' s' if 'MaxDelaySeconds' in retrier else '-'} "
                f"| {retrier.get('JitterStrategy', 'NONE')} | {str(retrier.get('Comment', '')).replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def lifecycle_diagram(states: Sequence[str], transitions: Sequence[Mapping[str, Any]], initial: str,
                      out_of_service: Sequence[str] = ()) -> str:
    """The lifecycle (``transitions`` data) as mermaid ``stateDiagram-v2`` text (without the code fence)."""
    ids = NodeIds("l_")
    lines = ["stateDiagram-v2"]
    lines.extend(f"  state {quoted(state)} as {ids(state)}" for state in states)
    lines.append(f"  [*] --> {ids(initial)}")
    has_exit: set[str] = set()
    for transition in transitions:
        sources = transition["source"] if isinstance(transition["source"], list) else [transition["source"]]
        for source in sources:
            lines.append(f"  {ids(source)} --> {ids(transition['dest'])} : {transition['trigger']}")
            has_exit.add(source)
    lines.extend(f"  {ids(state)} --> [*]" for state in states if state not in has_exit)
    lines.append("  classDef outOfService fill:#fdb863,stroke:#b35806,color:#111")
    if out_of_service:
        lines.append(f"  class {','.join(ids(s) for s in out_of_service)} outOfService")
    return "\n".join(lines) + "\n"


# -- the documents ---------------------------------------------------------------------------------------

def _generated_line(source: str) -> str:
    return (f"Generated from `{source}` by `{WRITE_COMMAND}`; do not edit by hand "
            f"(`{CHECK_COMMAND}` fails when this file is stale).")


ASL_LEGEND = ("Solid arrows: `Next`, Choice rules (labelled with their condition) and `Default` (\"otherwise\"). "
              "Dashed arrows: `Catch` (labelled with the error names) and a Map's item processor. "
              f"`\u21bb retry {TIMES}N`: the state's `Retry` rules with their `MaxAttempts` (all listed below).")


def asl_document(path: Path) -> str:
    definition = json.loads(path.read_text())
    source = path.relative_to(ROOT).as_posix()
    parts = [f"# State machine: {path.name}", "", _generated_line(source), ""]
    if definition.get("Comment"):
        parts += [f"> {definition['Comment']}", ""]
    parts += [ASL_LEGEND, "", "```mermaid", asl_flowchart(definition).rstrip("\n"), "```", "",
              "## Retry policies", "", retry_table(definition).rstrip("\n"), ""]
    return "\n".join(parts)


def lifecycle_document() -> str:
    from steps.domain import lifecycle

    source = "steps/domain/lifecycle.py"
    initial = lifecycle.Lifecycle().state
    parts = [
        "# Remediation lifecycle", "", _generated_line(f"{source} (STATES, TRANSITIONS)"), "",
        "Each remediation record moves through these states; every step fires one trigger (the edge labels) and "
        "saves conditionally on the prior state. States where the instance is out of service are highlighted.",
        "", "```mermaid",
        lifecycle_diagram(lifecycle.STATES, lifecycle.TRANSITIONS, initial, lifecycle.OUT_OF_SERVICE).rstrip("\n"),
        "```", "",
    ]
    return "\n".join(parts)


def index_document(names: Sequence[tuple[str, str]]) -> str:
    lines = ["# Diagrams", "", f"Generated by `{WRITE_COMMAND}`; do not edit by hand "
             f"(`{CHECK_COMMAND}` fails when a file here is stale).", ""]
    lines.extend(f"- [{title}]({name})" for name, title in names)
    return "\n".join(lines) + "\n"


def generate() -> dict[str, str]:
    """File name (under docs/diagrams) -> content, for every diagram."""
    documents: dict[str, str] = {}
    titles: list[tuple[str, str]] = []
    for path in sorted(STATEMACHINE_DIR.glob("*.asl.json")):
        name = path.name.removesuffix(".asl.json") + ".md"
        documents[name] = asl_document(path)
        titles.append((name, f"State machine `{path.name}` (flowchart)"))
    documents["lifecycle.md"] = lifecycle_document()
    titles.append(("lifecycle.md", "Remediation lifecycle (state diagram)"))
    documents["README.md"] = index_document(titles)
    return documents


def stale_files(out_dir: Path = OUT_DIR) -> list[str]:
    """What differs from a fresh generation: 'stale: …', 'missing: …', 'unexpected: …'."""
    fresh = generate()
    problems = []
    for name, content in fresh.items():
        path = out_dir / name
        if not path.exists():
            problems.append(f"missing: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"stale: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if out_dir.exists():
        for path in sorted(out_dir.glob("*.md")):
            if path.name not in fresh:
                problems.append(f"unexpected: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return problems


def write(out_dir: Path = OUT_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in generate().items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift.diagrams", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="(re)write docs/diagrams/*.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when docs/diagrams differs from a fresh generation")
    args = parser.parse_args(argv)
    if args.write:
        written = write()
        for path in written:
            print(f"wrote {path.relative_to(ROOT)}")
        if not written:
            print("docs/diagrams is up to date")
        return 0
    problems = stale_files()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"docs/diagrams is out of date: run `{WRITE_COMMAND}`", file=sys.stderr)
        return 1
    print("docs/diagrams is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
