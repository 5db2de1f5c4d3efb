"""Every simulator test runs with the AWS environment of tests/fixtures.py's ``aws_env``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _aws_env(aws_env: None) -> None:
    return aws_env
