"""README says the old key `guards` "is still read, with a warning", and docs/deploy.md
tells operators to point their editor at infra/groups.schema.json for validation. The code reads it; the schema
(GroupConfig additionalProperties: false, no `guards` property) refuses it: an operator validating the same,
still-working declaration is told it is invalid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from steps.core.config import parse_groups

OLD = {"groups": [{"name": "web", "target_group_arns": [
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"],
    "guards": {"instance_cooldown_seconds": 60}}]}


def test_an_old_declaration_with_guards_is_accepted_by_the_code_and_the_schema() -> None:
    assert parse_groups(json.dumps(OLD)).by_name["web"].blockers.instance_cooldown_seconds == 60
    schema = json.loads((Path(__file__).parents[2] / "infra" / "groups.schema.json").read_text())
    try:
        jsonschema.validate(OLD, schema)
    except jsonschema.ValidationError as exc:
        pytest.fail(f"the schema refuses what the code reads: {exc.message}")
