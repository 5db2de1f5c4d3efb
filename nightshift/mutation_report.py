"""The mutation score `make mutation` prints: mutmut's mutants of the Python steps plus the ASL mutants of
nightshift/mutate_asl.py, one number, and every mutant that was not killed (docs/mutation.md).

    python -m nightshift.mutation_report [--asl out/mutation-asl.json]

Reads mutmut's results through its own commands (``mutmut export-cicd-stats``, ``mutmut results``), run
from the repository root after ``mutmut run``. A mutant with no test that executes it counts as survived;
mutmut's "timeout" counts as killed (the tests did not pass), as mutmut's own score does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KILLED = {"killed", "timeout", "caught by type check"}


def mutmut(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return done.stdout


def python_results() -> dict[str, str]:
    """Every mutmut mutant name and its status."""
    out: dict[str, str] = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            out[name] = status
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asl", type=Path, nargs="+", default=[ROOT / "out" / "mutation-asl.json"],
                        help="nightshift.mutate_asl result files (a later file's result for a mutant wins)")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "mutation.json")
    args = parser.parse_args(argv)
    python = python_results()
    by_name: dict[str, dict[str, Any]] = {}
    for path in args.asl:
        for mutant in json.loads(path.read_text())["mutants"] if path.exists() else []:
            by_name[mutant["name"]] = mutant
    asl: dict[str, Any] = {"mutants": list(by_name.values())}
    by_module: dict[str, list[int]] = {}
    for name, status in python.items():
        module = name.split(".x_")[0].split(".x\u01c1")[0]
        counts = by_module.setdefault(module, [0, 0])
        counts[0] += status in KILLED
        counts[1] += status != "skipped"
    print("Python (mutmut), per module:")
    for module, (killed, total) in sorted(by_module.items()):
        print(f"  {module:40} {killed:4}/{total:<4} {100 * killed / max(total, 1):5.1f} %")
    py_killed = sum(k for k, _ in by_module.values())
    py_total = sum(t for _, t in by_module.values())
    asl_killed = sum(m["outcome"] == "killed" for m in asl["mutants"])
    asl_total = len(asl["mutants"])
    killed, total = py_killed + asl_killed, py_total + asl_total
    print(f"Python mutants: {py_killed}/{py_total} killed")
    print(f"ASL mutants:    {asl_killed}/{asl_total} killed")
    print(f"MUTATION SCORE: {killed}/{total} = {100 * killed / max(total, 1):.1f} % killed")
    survivors = sorted(n for n, s in python.items() if s not in KILLED and s != "skipped")
    asl_survivors = [m["name"] for m in asl["mutants"] if m["outcome"] != "killed"]
    print(f"Survivors ({len(survivors) + len(asl_survivors)}; `mutmut show NAME` prints a Python one's diff):")
    for name in survivors:
        print(f"  {python[name]:12} {name}")
    for name in asl_survivors:
        print(f"  {'asl':12} {name}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"killed": killed, "total": total, "python": python,
                                     "asl": asl["mutants"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
