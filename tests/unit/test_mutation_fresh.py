"""nightshift/mutation_fresh.py: a resumed `make mutation` re-tests every mutant not killed and re-maps tests."""

from __future__ import annotations

import json
from pathlib import Path

from nightshift.mutation_fresh import refresh


def test_only_killed_verdicts_survive_and_the_test_map_goes(tmp_path: Path) -> None:
    (tmp_path / "mutmut-stats.json").write_text("{}")
    meta = tmp_path / "steps" / "domain" / "x.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": {"a": 1, "b": 0, "c": -24, "d": 33, "e": None},
                                "hash_by_function_name": {"f": "h"}}))
    assert refresh(tmp_path) == (3, 1)
    assert not (tmp_path / "mutmut-stats.json").exists()
    data = json.loads(meta.read_text())
    assert data["exit_code_by_key"] == {"a": 1, "b": None, "c": None, "d": None, "e": None}
    assert data["hash_by_function_name"] == {"f": "h"}  # mutmut's other bookkeeping is left alone
