"""Shared test setup: fake credentials and a region, so nothing can reach real AWS."""

from __future__ import annotations

import os

for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "1",
    # moto without its ~1,300 default AMIs: each new EC2 backend (two a workflow test) otherwise parses them
    # from JSON and makes their random ids, about 0.65 s a test; a simulated fleet needs none
    # (nightshift/sim/moto_backend.py image_ids makes its own).
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}.items():
    os.environ[key] = value

# `make mutation` runs the unit tests once per mutant on busy cores: the same examples every time, no
# timing health checks (pyproject's [tool.mutmut] selects it with --hypothesis-profile=mutation).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("mutation", derandomize=True, database=None, deadline=None,
                          suppress_health_check=list(HealthCheck))

# The shared fixtures (harness, direct, direct_asg, steps, world, make_world, aws_env): one plugin.
pytest_plugins = ["tests.fixtures"]
