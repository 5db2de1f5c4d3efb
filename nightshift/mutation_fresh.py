"""Before `make mutation`'s mutmut run: forget what a resumed run must not trust (docs/mutation.md).

mutmut 3.8.1 resumes from ``mutants/``: it keeps each mutant's verdict while its function's hash is unchanged
and re-collects which tests execute which function only for tests it has not seen. Two things go stale:

- the test map, when functions move (a module split or renamed): the old tests keep pointing at the old
  names, so the moved functions' mutants run only the new tests and survive falsely (2026-11-28: 116
  blocker mutants "survived" that ``tests/unit/test_blockers.py`` kills);
- a verdict other than *killed* (survived, no tests, timeout), when tests were added since or the machine was
  busy: it is never re-tested while the function's hash holds.

So this deletes ``mutants/mutmut-stats.json`` (mutmut collects the whole map again, about two minutes) and
clears every verdict but *killed* (mutmut runs those mutants again). A *killed* verdict stays: a test that
failed with the mutant in place still does, unless the test was deleted.

    python -m nightshift.mutation_fresh [--dir mutants]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KILLED = {1, 3}  # mutmut's exit codes for a killed mutant (3: pytest's internal error, which mutmut counts killed)


def refresh(mutants: Path) -> tuple[int, int]:
    """Returns (verdicts cleared, verdicts kept)."""
    (mutants / "mutmut-stats.json").unlink(missing_ok=True)
    cleared = kept = 0
    for meta in sorted(mutants.rglob("*.meta")):
        data = json.loads(meta.read_text())
        verdicts: dict[str, int | None] = data.get("exit_code_by_key", {})
        for name, code in verdicts.items():
            if code in KILLED:
                kept += 1
            elif code is not None:
                verdicts[name] = None
                cleared += 1
        meta.write_text(json.dumps(data))
    return cleared, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("mutants"))
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        print(f"{args.dir}: no earlier run; mutmut starts from scratch")
        return 0
    cleared, kept = refresh(args.dir)
    print(f"{args.dir}: test map dropped; {cleared} verdicts other than killed cleared, {kept} killed kept")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
