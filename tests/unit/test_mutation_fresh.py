"""nightshift/mutation_fresh.py: a resumed `make mutation` re-tests every mutant not killed and re-maps tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightshift.mutation_fresh import main, refresh


def test_only_killed_verdicts_survive_and_the_test_map_goes(tmp_path: Path) -> None:
    (tmp_path / "mutmut-stats.json").write_text("{}")
    meta = tmp_path / "steps" / "domain" / "x.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": {"a": 1, "b": 0, "c": -24, "d": 33, "e": None, "k": 3},
                                "hash_by_function_name": {"f": "h"}}))
    assert refresh(tmp_path) == (3, 2)
    assert not (tmp_path / "mutmut-stats.json").exists()
    data = json.loads(meta.read_text())
    # 3 is a kill too (pytest's internal error, mutmut.stats.status_by_exit_code): kept
    assert data["exit_code_by_key"] == {"a": 1, "b": None, "c": None, "d": None, "e": None, "k": 3}
    assert data["hash_by_function_name"] == {"f": "h"}  # mutmut's other bookkeeping is left alone


def test_main_refreshes_an_earlier_run_and_says_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mutmut-stats.json").write_text("{}")
    (tmp_path / "m.py.meta").write_text(json.dumps({"exit_code_by_key": {"a": 0, "b": 1}}))
    assert main(["--dir", str(tmp_path)]) == 0
    assert "1 verdicts other than killed cleared, 1 killed kept" in capsys.readouterr().out
    assert not (tmp_path / "mutmut-stats.json").exists()


def test_main_without_an_earlier_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "mutants"
    assert main(["--dir", str(missing)]) == 0
    assert "no earlier run" in capsys.readouterr().out and not missing.exists()
