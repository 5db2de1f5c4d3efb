"""Every test an ASL mutant names exists: the fault matrix's case ids were renamed once (faults moved to the
AWS layer) and `make mutation`'s ASL half then ran no test at all ("no tests ran"), which counts as neither
killed nor survived. Checked by reading, not by running them (tests/faults needs the runtime)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
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


def test_every_test_id_an_asl_mutant_names_is_collected_by_pytest() -> None:
    # The check above reads function names and the fault matrix's case ids only: a wrong parameter id of any other
    # test (test_asl_guards' retried calls, test_safety's `[plain]`) passed it and made the mutant's run a pytest
    # usage error ("not found": counted neither killed nor survived). So ask pytest itself, collecting only, in
    # the environment nightshift.mutate_asl.run_tests gives the tests.
    named = sorted({test for mutant in MUTANTS for test in mutant.tests})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NIGHTSHIFT_FAULT_MATRIX": "full"}
    env.pop("NIGHTSHIFT_ASL_DIR", None)
    env.pop("MUTANT_UNDER_TEST", None)  # under `make mutation`'s mutmut: the child collects the original code
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
                           "--collect-only", "-q", *named], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    collected = {line.strip() for line in done.stdout.splitlines() if "::" in line and " " not in line.strip()}
    missing = [test for test in named
               if test not in collected and ("[" in test or not any(c.startswith(f"{test}[") for c in collected))]
    assert (missing, done.returncode) == ([], 0), done.stdout[-2000:] + done.stderr[-2000:]
