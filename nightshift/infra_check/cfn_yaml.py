"""Read CloudFormation/SAM YAML, short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt`` ...) included.

Each tag becomes its long form (``{"Fn::Sub": ...}``), as CloudFormation itself reads it, so the checks
and aws-sam-translator see one shape whichever form a template author wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Short-form tags and their long-form keys. `!Ref` and `!Condition` are not "Fn::" functions.
_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{name: f"Fn::{name}" for name in (
        "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If", "ImportValue", "Join",
        "Length", "Not", "Or", "Select", "Split", "Sub", "ToJsonString", "Transform",
    )},
}


# PyYAML ships no type hints (types-PyYAML is not a dependency): SafeLoader is Any to mypy.
class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader plus the CloudFormation tags; YAML anchors and aliases work as usual."""


def _construct(key: str) -> Any:
    def construct(loader: _Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if key == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)  # !GetAtt Resource.Attribute
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _tag, _key in _TAGS.items():
    _Loader.add_constructor(f"!{_tag}", _construct(_key))


def loads(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    if not isinstance(data, dict):
        raise ValueError("a template must be a mapping at the top level")
    return data


def load(path: Path) -> dict[str, Any]:
    return loads(path.read_text())
