"""`nightshift demo --scenario`: every registered scenario resolves to a module with run and summary."""

from __future__ import annotations

import contextlib
import io

import pytest

from nightshift.cli import main
from nightshift.scenarios import SCENARIOS, runner


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_registered_scenario_has_run_and_summary(name: str) -> None:
    run, summary = runner(name)
    assert callable(run) and callable(summary)


def test_an_unknown_scenario_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"--scenario 'nope'.*leak"):
        runner("nope")


def test_the_cli_refuses_an_unknown_scenario_before_anything_runs() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main(["demo", "--scenario", "nope"])
    assert exit_.value.code == 2
    assert "--scenario" in err.getvalue() and "leak" in err.getvalue()
