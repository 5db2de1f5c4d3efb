"""Careless input refused at validation, naming the field (issue 14's smaller cases)."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from steps.core.config import ConfigurationError, parse_groups
from steps.core.events import StartInput

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def declare(**group: object) -> None:
    parse_groups({"groups": [{"name": "web", "target_group_arns": [ARN], **group}]})


@pytest.mark.parametrize("threshold", [-5.0, -math.inf, math.inf, math.nan, "NaN", "-Infinity"])
def test_a_threshold_that_would_select_the_healthy_or_nothing_is_refused(threshold: object) -> None:
    with pytest.raises(ConfigurationError) as refused:
        declare(metric={"threshold": threshold})
    assert "metric.threshold" in str(refused.value)


@pytest.mark.parametrize("threshold", [0, 65, 99.5])
def test_sensible_thresholds_are_accepted(threshold: float) -> None:
    declare(metric={"threshold": threshold})


def test_an_instance_id_with_a_trailing_newline_is_refused() -> None:
    StartInput.model_validate({"group": "web", "instance_id": "i-0123456789abcdef0"})
    with pytest.raises(ValidationError) as refused:
        StartInput.model_validate({"group": "web", "instance_id": "i-0123456789abcdef0\n"})
    assert "instance_id" in str(refused.value)


@pytest.mark.parametrize("field", ["reason", "requested_by"])
@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x1b[2J", "\x00", "\x7f", "\x9b"])
def test_free_text_with_a_control_character_is_refused_naming_the_field(field: str, bad: str) -> None:
    StartInput.model_validate({"group": "web", field: "memory leak — on-call é ✓"})  # plain Unicode is fine
    with pytest.raises(ValidationError) as refused:
        StartInput.model_validate({"group": "web", field: f"memory{bad}leak"})
    assert field in str(refused.value) and "control characters" in str(refused.value)


@pytest.mark.parametrize(("field", "value"), [("name", "web\n"), ("target_group_arns", [ARN + "\n"])])
def test_names_and_arns_with_a_trailing_newline_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_groups({"groups": [{"name": "web", "target_group_arns": [ARN], field: value}]})
    assert field in str(refused.value)


@pytest.mark.parametrize("raw", [b"\xff\xfe\xfa", b'{"groups": [\xff]}', b"\x80"])
def test_a_declaration_that_is_not_text_is_a_configuration_error_naming_the_fix(raw: bytes) -> None:
    # json.loads raises UnicodeDecodeError (not JSONDecodeError) on bytes that are no UTF-8/16/32 text
    with pytest.raises(ConfigurationError, match=r"not text.*save it as UTF-8 JSON"):
        parse_groups(raw)
