"""Workflow tests share the harness fixture."""

from tests.harness import harness  # noqa: F401  (a pytest fixture)
