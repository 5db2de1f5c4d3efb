"""infra/groups.schema.json is generated from steps.core.config, and infra/groups.example.json is a valid
declaration by the same rules the steps apply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from nightshift import infra_check
from nightshift.infra_check import schema
from steps.core.config import parse_groups
from steps.core.exceptions import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_schema_is_the_generated_one() -> None:
    # A failure here means steps/core/config.py changed: run `python -m nightshift.infra_check schema --write`.
    assert infra_check.GROUPS_SCHEMA.read_text() == schema.render(schema.generate())


def test_the_example_is_a_valid_declaration() -> None:
    document = parse_groups(infra_check.GROUPS_EXAMPLE.read_text())
    assert [g.name for g in document.groups] == ["web", "batch-api"]
    assert document.group("web").per_az is True


def test_the_example_validates_against_the_schema() -> None:
    example = json.loads(infra_check.GROUPS_EXAMPLE.read_text())
    jsonschema.validate(example, json.loads(infra_check.GROUPS_SCHEMA.read_text()))


def test_the_schema_refuses_what_the_model_refuses() -> None:
    # GIVEN a declaration with a field the model does not know
    bad = {"groups": [{"name": "web", "target_group_arns": [
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"], "colour": "red"}]}
    # THEN both the schema (editors, CI) and the model (the steps) refuse it
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema.generate())
    with pytest.raises(ConfigurationError, match="colour"):
        parse_groups(bad)


def test_the_stack_default_declares_no_group_and_fails_loudly() -> None:
    # The template's GroupsJson default; an execution then fails at "Validate the request".
    with pytest.raises(ConfigurationError, match="groups"):
        parse_groups('{"groups": []}')


def test_schema_check_command_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "groups.schema.json"
    stale.write_text("{}\n")
    command = [sys.executable, "-m", "nightshift.infra_check", "schema"]
    assert subprocess.run([*command, "--check", "--path", str(stale)], cwd=ROOT, check=False,
                          capture_output=True).returncode == 1
    assert subprocess.run([*command, "--write", "--path", str(stale)], cwd=ROOT, check=False,
                          capture_output=True).returncode == 0
    assert subprocess.run([*command, "--check", "--path", str(stale)], cwd=ROOT, check=False,
                          capture_output=True).returncode == 0
