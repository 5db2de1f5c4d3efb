"""The generated diagrams: fresh in docs/diagrams (the CI check), and faithful to their sources.

The mermaid text is parsed back here with its own small grammar, independent of how the generator
names nodes, and compared with what the ASL and the lifecycle data say.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nightshift import diagrams
from steps.domain import lifecycle

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted((ROOT / "statemachine").glob("*.asl.json"))
SAFE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# id, then a shape opening, then a double-quoted label, then the closing and a :::class
FLOW_NODE = re.compile(r'^\s*(?P<id>\S+?)(?:\[\[|\[|\{\{|\{|\(\[|\(\(|\()"(?P<label>[^"]*)"[\]\)\}]+(?::::\w+)?$')
FLOW_EDGE = re.compile(r'^\s*(?P<src>\S+) (?P<arrow>-->|-\.->)(?:\|"(?P<label>[^"]*)"\|)? (?P<dst>\S+)$')
STATE_DECL = re.compile(r'^\s*state "(?P<label>[^"]*)" as (?P<id>\S+)$')
STATE_EDGE = re.compile(r"^\s*(?P<src>\S+) --> (?P<dst>\S+)(?: : (?P<label>.+))?$")


def unescape(label: str) -> str:
    for code, raw in (("#quot;", '"'), ("#lt;", "<"), ("#gt;", ">"), ("#124;", "|"), ("#96;", "`"), ("#35;", "#")):
        label = label.replace(code, raw)
    return label


def mermaid_block(markdown: str) -> str:
    blocks = re.findall(r"```mermaid\n(.*?)```", markdown, flags=re.S)
    assert len(blocks) == 1, "one mermaid block per document"
    return str(blocks[0])


def flow_nodes(text: str) -> dict[str, str]:
    """node id -> first label line (the state name)"""
    nodes: dict[str, str] = {}
    for line in text.splitlines():
        match = FLOW_NODE.match(line)
        if match and not line.strip().startswith("subgraph"):
            assert match["id"] not in nodes, f"node {match['id']} defined twice"
            nodes[match["id"]] = unescape(match["label"].split("<br/>")[0])
    return nodes


def state_nodes(text: str) -> dict[str, str]:
    """flow_nodes without the start and end circles"""
    return {i: name for i, name in flow_nodes(text).items() if i not in ("start_node", "end_node")}


def all_states(machine: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in machine["States"].items():
        found.append((name, state))
        if state.get("ItemProcessor") or state.get("Iterator"):
            found.extend(all_states(state.get("ItemProcessor") or state["Iterator"]))
        for branch in state.get("Branches") or []:
            found.extend(all_states(branch))
    return found


def expected_edges(machine: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    """(source state, destination state, kind) for every Next, Default, Choice rule and Catch."""
    edges: Counter[tuple[str, str, str]] = Counter()
    for name, state in all_states(machine):
        if "Next" in state:
            edges[(name, state["Next"], "next")] += 1
        if "Default" in state:
            edges[(name, state["Default"], "default")] += 1
        for rule in state.get("Choices") or []:
            edges[(name, rule["Next"], "choice")] += 1
        for catcher in state.get("Catch") or []:
            edges[(name, catcher["Next"], "catch")] += 1
    return edges


def drawn_edges(text: str, names: dict[str, str]) -> Counter[tuple[str, str, str]]:
    edges: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        match = FLOW_EDGE.match(line)
        if not match or match["src"] not in names or match["dst"] not in names:
            continue  # start/end circles, the Map's "each item" edge
        label = unescape(match["label"] or "")
        if match["arrow"] == "-.->":
            if label == "each item":
                continue
            assert label.startswith("Catch "), line
            kind = "catch"
        elif label == "otherwise":
            kind = "default"
        elif label:
            kind = "choice"
        else:
            kind = "next"
        edges[(names[match["src"]], names[match["dst"]], kind)] += 1
    return edges


# -- the CI check ------------------------------------------------------------------------------------------

def test_docs_diagrams_equal_a_fresh_generation() -> None:
    assert diagrams.stale_files() == [], f"run `{diagrams.WRITE_COMMAND}`"


def test_check_command_passes_on_the_repository() -> None:
    done = subprocess.run([sys.executable, "-m", "nightshift.diagrams", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_check_names_a_stale_missing_or_unexpected_file(tmp_path: Path) -> None:
    diagrams.write(tmp_path)
    assert diagrams.stale_files(tmp_path) == []
    (tmp_path / "sweep.md").write_text((tmp_path / "sweep.md").read_text().replace("-->", "---", 1))
    (tmp_path / "lifecycle.md").unlink()
    (tmp_path / "hand-drawn.md").write_text("# not generated\n")
    problems = diagrams.stale_files(tmp_path)
    assert any(p.startswith("stale:") and p.endswith("sweep.md") for p in problems), problems
    assert any(p.startswith("missing:") and p.endswith("lifecycle.md") for p in problems), problems
    assert any(p.startswith("unexpected:") and p.endswith("hand-drawn.md") for p in problems), problems
    assert len(problems) == 3


def test_every_document_says_it_is_generated_and_how() -> None:
    for name, content in diagrams.generate().items():
        assert f"`{diagrams.WRITE_COMMAND}`" in content, name
        if name != "README.md":
            mermaid_block(content)


# -- the state machines ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_asl_flowchart_has_one_node_per_state(path: Path) -> None:
    machine = json.loads(path.read_text())
    text = diagrams.asl_flowchart(machine)
    names = state_nodes(text)
    expected = [name for name, _ in all_states(machine)]
    assert sorted(names.values()) == sorted(expected)
    assert all(SAFE_ID.match(node_id) for node_id in names), names


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_asl_flowchart_has_an_edge_for_every_next_default_choice_and_catch(path: Path) -> None:
    machine = json.loads(path.read_text())
    text = diagrams.asl_flowchart(machine)
    names = state_nodes(text)
    assert drawn_edges(text, names) == expected_edges(machine)
    start = next(m["dst"] for m in map(FLOW_EDGE.match, text.splitlines()) if m and m["src"] == "start_node")
    assert names[start] == machine["StartAt"]


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_asl_edges_carry_conditions_and_error_names(path: Path) -> None:
    machine = json.loads(path.read_text())
    text = diagrams.asl_flowchart(machine)
    labels = [unescape(m["label"] or "") for m in map(FLOW_EDGE.match, text.splitlines()) if m]
    for _, state in all_states(machine):
        for rule in state.get("Choices") or []:
            if "Variable" in rule:
                assert any(label.startswith(rule["Variable"] + " ") for label in labels), rule
        for catcher in state.get("Catch") or []:
            assert "Catch " + ", ".join(catcher["ErrorEquals"]) in labels, catcher


def test_remediate_flowchart_notes_retries_and_the_sweep_draws_its_map_as_a_subgraph() -> None:
    remediate = diagrams.asl_flowchart(json.loads((ROOT / "statemachine/remediate.asl.json").read_text()))
    assert re.search(r'"Check target health<br/>\u21bb retry \u00d7\d+', remediate)
    sweep = diagrams.asl_flowchart(json.loads((ROOT / "statemachine/sweep.asl.json").read_text()))
    block = re.search(r"^  subgraph (\S+)\[\"[^\"]*\"\]\n(.*?)^  end$", sweep, flags=re.S | re.M)
    assert block, sweep
    inner = flow_nodes(block.group(2))
    machine = json.loads((ROOT / "statemachine/sweep.asl.json").read_text())
    processor = machine["States"]["Remediate each group"]["ItemProcessor"]["States"]
    assert sorted(inner.values()) == sorted(processor)


def test_condition_text_reads_like_the_rule() -> None:
    assert diagrams.condition_text({"Variable": "$.a", "StringEquals": "x"}) == "$.a == 'x'"
    assert diagrams.condition_text({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.m"}) == "$.n >= $.m"
    assert diagrams.condition_text({"Not": {"Variable": "$.e", "IsPresent": True}}) == "not ($.e is present)"
    assert diagrams.condition_text({"And": [{"Variable": "$.a", "BooleanEquals": True},
                                            {"Variable": "$.b", "NumericLessThan": 3}]}) == \
        "($.a == true) and ($.b < 3)"


def test_labels_with_quotes_and_mermaid_syntax_are_escaped() -> None:
    machine = {"StartAt": 'Say "hi" | <b>#1</b>?', "States": {
        'Say "hi" | <b>#1</b>?': {"Type": "Pass", "Next": "end"},
        "end": {"Type": "Succeed"}}}
    text = diagrams.asl_flowchart(machine)
    names = state_nodes(text)
    assert sorted(names.values()) == ['Say "hi" | <b>#1</b>?', "end"]
    assert all(SAFE_ID.match(node_id) and node_id != "end" for node_id in names)


# -- the lifecycle -----------------------------------------------------------------------------------------

def test_lifecycle_diagram_has_every_state_and_every_transition() -> None:
    text = mermaid_block(diagrams.generate()["lifecycle.md"])
    assert text.startswith("stateDiagram-v2")
    ids = {m["id"]: m["label"] for m in map(STATE_DECL.match, text.splitlines()) if m}
    assert sorted(ids.values()) == sorted(lifecycle.STATES)
    drawn = Counter()
    for match in map(STATE_EDGE.match, text.splitlines()):
        if match and match["src"] in ids and match["dst"] in ids:
            drawn[(ids[match["src"]], ids[match["dst"]], match["label"])] += 1
    expected = Counter()
    for transition in lifecycle.TRANSITIONS:
        sources = transition["source"] if isinstance(transition["source"], list) else [transition["source"]]
        for source in sources:
            expected[(source, transition["dest"], transition["trigger"])] += 1
    assert drawn == expected
    assert f"[*] --> {next(i for i, label in ids.items() if label == 'requested')}" in text
