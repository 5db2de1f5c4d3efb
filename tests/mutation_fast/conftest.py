"""Fast handler-level tests for `make mutation`: the handlers and stores called directly on in-process moto."""

from tests.harness import direct, direct_asg  # noqa: F401  (the fixtures)
