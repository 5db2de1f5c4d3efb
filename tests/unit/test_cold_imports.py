"""What importing a handler does NOT load (issue 15, cold starts): modules only some paths need wait for them.

Every handler of ``nightshift/functions.py`` is imported in a fresh interpreter, as a Lambda container's INIT
imports it, with the environment bench section 5 uses (outside Lambda: tracing off). Nothing here times
anything: import times are measured by the bench only (bench/run.py, section 5 of bench/results.md).

- The X-Ray SDK (``aws_xray_sdk``, ~0.2 s): only where tracing is on. Outside Lambda, or where
  ``POWERTOOLS_TRACE_DISABLED`` is true, Powertools' Tracer would be disabled anyway; on Lambda (tracing on,
  the SAM template's ``Tracing: Active``) the Tracer is made at import as before.
- The groups declaration's models (``GroupConfig`` and the specs it holds): pydantic builds their validators
  when a declaration is first validated, not at import; the restore path and the notifications never read it.
- A step's event model (``StepEvent``): built at import by the handlers that parse one on every call (the
  ``@step`` ones), by no other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nightshift.functions import STEP_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
DEFERRED = ("aws_xray_sdk",)  # top-level packages no handler may import while tracing is off
DEFERRED_MODELS = ("GroupConfig", "GroupsDocument", "MetricSpec", "DrainSpec", "EscalationSpec")

# Imports each handler in turn (by its catalogue entry, however the module is laid out) and records, after
# each, the deferred packages loaded so far and whether the declaration's models were built: the first
# handler after which one shows up is the one that loaded it.
PROBE = """
import json, sys
from nightshift.functions import BY_NAME
names = sys.argv[1:]
deferred = {deferred!r}
seen = []
for name in names:
    handler = BY_NAME[name].handler()
    config = sys.modules["steps.core.config"] if "steps.core.config" in sys.modules else None
    built = sorted(m for m in {models!r} if config is not None and getattr(config, m).__pydantic_complete__)
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(deferred))
    events = sys.modules.get("steps.core.events")
    seen.append({{"function": name, "loaded": loaded, "built": built,
                 # made by steps/core/entrypoint.py's @step (every handler has a __wrapped__ now: Powertools'
                 # Logger wraps each): its module imported ``step`` from there
                 "is_step": getattr(sys.modules[handler.__module__], "step", None)
                            is getattr(sys.modules.get("steps.core.entrypoint"), "step", False),
                 "step_event_built": events is not None and events.StepEvent.__pydantic_complete__}})
print(json.dumps(seen))
"""


def _env(**extra: str) -> dict[str, str]:
    """Bench section 5's environment (no LAMBDA_TASK_ROOT: outside Lambda), with the repository importable."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


def _probe(names: list[str], **env: str) -> list[dict[str, Any]]:
    code = PROBE.format(deferred=DEFERRED, models=DEFERRED_MODELS)
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, env=_env(**env), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _run(code: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(**env), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_catalogue_lists_every_handler() -> None:
    # The probes below cover what the catalogue lists; an empty catalogue would make them pass vacuously.
    assert len(STEP_FUNCTIONS) >= 20


@pytest.mark.parametrize("function", [f"nightshift-{f.name}" for f in STEP_FUNCTIONS])
def test_no_handler_loads_what_only_some_paths_need(function: str) -> None:
    """One fresh interpreter per handler, nothing imported before it."""
    [entry] = _probe([function])
    assert entry["loaded"] == [], f"importing {function}'s handler loaded {entry['loaded']}"
    assert entry["built"] == [], f"importing {function}'s handler built the group models {entry['built']}"
    # A step parses a StepEvent on every call: built at import (not moved to the first call); the handlers that
    # never parse one (validate-request, list-groups, the alarm trigger...) do not build it.
    assert entry["step_event_built"] == entry["is_step"], entry


def test_both_kinds_of_handler_are_probed() -> None:
    # Else the StepEvent assertion above tells nothing (e.g. if @step stopped showing as ``__wrapped__``).
    kinds = {entry["is_step"] for entry in _probe([f"nightshift-{f.name}" for f in STEP_FUNCTIONS])}
    assert kinds == {True, False}


# Which tracer the container made, whether the X-Ray SDK is loaded, and what runs as a step's handler: the
# Tracer's wrapper (``decorate``, one X-Ray subsegment per invocation) or the step's own handler.
TRACING = ("import sys\n"
           "from nightshift.functions import BY_NAME\n"
           "handler = BY_NAME['nightshift-check-drain'].handler()\n"
           "from steps.core import observability as o\n"
           "from aws_lambda_powertools import Tracer\n"
           "code = handler.__code__\n"
           # Powertools' Logger wraps every handler (inject_lambda_context): that wrapper counts as the step's own
           "logger_only = code.co_filename.endswith('aws_lambda_powertools/logging/logger.py')\n"
           "print(isinstance(o.tracer, Tracer) and not o.tracer.disabled, 'aws_xray_sdk.core' in sys.modules, "
           "'handler' if logger_only else code.co_name)")


def test_tracing_off_outside_lambda_makes_no_tracer() -> None:
    assert _run(TRACING) == "False False handler"


def test_tracing_off_by_powertools_variable_on_lambda() -> None:
    assert _run(TRACING, LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true") == "False False handler"


def test_on_lambda_the_powertools_tracer_is_made_at_import_as_before() -> None:
    """Tracing on (on Lambda, POWERTOOLS_TRACE_DISABLED unset): Powertools' Tracer, enabled, made when the
    handler is imported (it patches botocore then), and wrapped around every step's handler."""
    assert _run(TRACING, LAMBDA_TASK_ROOT="/var/task") == "True True decorate"


# Powertools' documented rule (https://docs.powertools.aws.dev/lambda/python/latest/core/tracer/: auto-disabled
# outside the Lambda environment, POWERTOOLS_TRACE_DISABLED disables it; SAM CLI's `sam local` sets
# AWS_SAM_LOCAL): only a true value of the variable disables tracing on Lambda.
RULE = ("from aws_lambda_powertools import Tracer\n"
        "from steps.core import observability as o\n"
        "print(isinstance(o.tracer, o.Untraced), Tracer(service='probe').disabled)")


@pytest.mark.parametrize(("env", "off"), [
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "False"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, True),
])
def test_tracing_is_off_exactly_where_powertools_tracer_is_disabled(env: dict[str, str], off: bool) -> None:
    """The stand-in is used exactly where Powertools' own Tracer, made in the same environment, is disabled
    (a Powertools upgrade that changes its rule shows here), and that is where its documentation says."""
    assert _run(RULE, **env) == f"{off} {off}"


def test_a_powertools_without_the_private_rule_makes_the_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Tracer._is_tracer_disabled`` is private; the deployed Powertools is the layer version the operator
    picks. Without it, the Tracer is made (it decides for itself) instead of every handler failing to import."""
    from aws_lambda_powertools import Tracer

    from steps.core import observability

    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert observability.tracing_off() is True  # outside Lambda
    monkeypatch.delattr(Tracer, "_is_tracer_disabled")
    assert observability.tracing_off() is False
