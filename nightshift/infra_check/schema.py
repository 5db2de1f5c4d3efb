"""infra/groups.schema.json: the JSON Schema of the groups declaration, generated from steps.core.config.

The schema is derived, never edited by hand: `python -m nightshift.infra_check schema --write`
regenerates it, and a test fails when the checked-in file and the model disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generate() -> dict[str, Any]:
    from steps.core.config import GroupsDocument

    schema: dict[str, Any] = {"$schema": SCHEMA_DIALECT, **GroupsDocument.model_json_schema()}
    schema["title"] = "Nightshift groups declaration"
    schema["description"] = (
        "The groups Nightshift may heal, stored as JSON in the SSM parameter NIGHTSHIFT_GROUPS_PARAMETER. "
        "Generated from steps/core/config.py GroupsDocument by `python -m nightshift.infra_check schema --write`; "
        "do not edit."
    )
    # The old name of `blockers`, still read (steps/core/config.py GroupConfig._deprecated_guards): a declaration that
    # works must validate in an editor too. Marked deprecated, so editors say to rename it.
    schema["$defs"]["GroupConfig"]["properties"]["guards"] = {
        "$ref": "#/$defs/BlockerSpec", "deprecated": True,
        "description": "Deprecated: the old name of `blockers`, still read with a warning. Rename it `blockers`; "
                       "a group that gives both is refused.",
    }
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(path: Path) -> None:
    path.write_text(render(generate()))


def is_current(path: Path) -> bool:
    return path.is_file() and path.read_text() == render(generate())
