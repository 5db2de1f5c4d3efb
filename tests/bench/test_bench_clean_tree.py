"""Benchmark results name the commit they measured: a full run refuses a dirty tree unless told."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import run


def test_a_full_run_refuses_uncommitted_changes_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(run, "uncommitted", lambda: ["steps/remediate/select_worst_instance.py"])
    monkeypatch.setattr(run, "run_scenarios", lambda *_: pytest.fail("the bench ran on a dirty tree"))
    assert run.main(["--out", str(tmp_path)]) == 2
    assert list(tmp_path.iterdir()) == []
    assert "steps/remediate/select_worst_instance.py" in capsys.readouterr().err


def test_the_outputs_themselves_do_not_make_the_tree_dirty() -> None:
    # the pathspecs exclude exactly what the bench writes
    assert {":!bench/results.json", ":!bench/results.md", ":!bench/COST.md"} <= set(run.OUTPUTS)
