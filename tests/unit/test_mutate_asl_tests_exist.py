"""Every test an ASL mutant names exists: the fault matrix's case ids were renamed once (faults moved to the
AWS layer) and `make mutation`'s ASL half then ran no test at all ("no tests ran"), which counts as neither
killed nor survived. Checked by reading, not by running them (tests/faults needs the runtime)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from nightshift.mutate_asl import MUTANTS
from tests.faults import matrix

ROOT = Path(__file__).resolve().parents[2]


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_test_an_asl_mutant_names_exists() -> None:
    case_ids = {case.id for case in matrix.cases(json.loads(matrix.CATALOGUE.read_text()))}
    missing = []
    for mutant in MUTANTS:
        assert mutant.tests, mutant.name
        for test in mutant.tests:
            path, _, rest = test.partition("::")
            name, _, param = rest.partition("[")
            if not (ROOT / path).is_file() or name not in _functions(ROOT / path):
                missing.append(f"{mutant.name}: {test}")
            elif path == "tests/faults/test_fault_matrix.py" and param.rstrip("]") not in case_ids:
                missing.append(f"{mutant.name}: {test} (no such fault-matrix case)")
    assert missing == []


def test_the_check_sees_a_stale_fault_case() -> None:
    # the old id shape, as the mutants named them before the matrix moved to the AWS layer
    case_ids = {case.id for case in matrix.cases(json.loads(matrix.CATALOGUE.read_text()))}
    assert "deregister-instance-exception" not in case_ids
    assert "deregister-instance:elastic-load-balancing-v2.DeregisterTargets:server-error" in case_ids
