"""A step called without what the state machine always gives it at that point fails with InvalidRequest naming
the missing field (never AssertionError, which ``python -O`` removes: the step would go on with None). Every
check runs before the step reads a table or calls AWS, so no AWS is needed; Raising clients prove nothing was
called."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from steps.aws import clients
from steps.core.config import Settings
from steps.core.entrypoint import StepContext
from steps.core.events import StepEvent
from steps.core.exceptions import ConfigurationError, InvalidRequest
from steps.remediate import (
    check_boot,
    check_capacity,
    check_drain,
    check_health,
    deregister_instance,
    leave_out_instance,
    reboot_instance,
    replace_instance,
    stop_start_instance,
)
from steps.sweep import reconcile
from tests.harness import invoke

INSTANCE = "i-0123456789abcdef0"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
REQUEST = {"group": "web", "remediation_id": "r-1", "trigger": "manual"}
SELECTED = {"action": "remediate", "instance_id": INSTANCE}
DEREGISTERED = {"instance_id": INSTANCE, "target_groups": [{"arn": TG, "port": 80}], "at": 1.0, "delay_seconds": 0}


class NoAws:
    """Every call fails the test: a broken contract must stop the step before it reaches AWS."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        raise AssertionError(f"called AWS: {name}")


@pytest.fixture(autouse=True)
def _no_aws() -> Iterator[None]:
    with clients.bound(clients.Aws(lambda service: NoAws())):
        yield


def run(handler: Callable[[dict[str, Any], Any], dict[str, Any]], **state: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        invoke(handler, {"execution_id": "arn:aws:states:us-east-1:123456789012:execution:remediate:x",
                         "state": {"request": REQUEST, **state}})
    return refused.value


@pytest.mark.parametrize(("handler", "name"), [(deregister_instance.deregister_instance, "deregister_instance"),
                                               (check_capacity.check_capacity, "check_capacity")])
def test_no_selected_instance(handler: Callable[[dict[str, Any], Any], dict[str, Any]], name: str) -> None:
    message = str(run(handler))
    assert message.startswith(f"{name}: malformed step input: selection.instance_id: missing")


@pytest.mark.parametrize(("handler", "name"), [(reboot_instance.reboot_instance, "reboot_instance"),
                                               (check_drain.check_drain, "check_drain")])
def test_no_deregistration(handler: Callable[[dict[str, Any], Any], dict[str, Any]], name: str) -> None:
    message = str(run(handler, selection=SELECTED))
    assert message.startswith(f"{name}: malformed step input: deregistration: missing")


def test_no_reboot_result() -> None:
    message = str(run(check_boot.check_boot, selection=SELECTED, deregistration=DEREGISTERED))
    assert message.startswith("check_boot: malformed step input: reboot: missing")


def test_health_needs_both_registration_and_deregistration() -> None:
    assert "registration: missing" in str(run(check_health.check_health, selection=SELECTED,
                                              deregistration=DEREGISTERED))
    assert "deregistration: missing" in str(run(check_health.check_health, selection=SELECTED,
                                                registration={"at": 2.0}))


def replace_after_its_lease(event: dict[str, Any], _: Any) -> dict[str, Any]:
    """replace_instance renews the group lease first (a table write), then checks its rung: call the part
    after the lease, as the handler would with that event."""
    parsed = StepEvent.model_validate(event)
    return replace_instance._replace(StepContext(parsed.execution_id, parsed.state, step="replace_instance"))


RUNGS = [(stop_start_instance.stop_start_instance, "stop_start"), (replace_after_its_lease, "replace"),
         (leave_out_instance.leave_out_instance, "leave_out")]


@pytest.mark.parametrize(("handler", "rung"), RUNGS)
def test_a_rung_without_its_escalation(handler: Callable[[dict[str, Any], Any], dict[str, Any]], rung: str) -> None:
    message = str(run(handler, selection=SELECTED))
    assert "malformed step input: escalation: missing" in message and f"the {rung} rung" in message


@pytest.mark.parametrize(("handler", "rung"), RUNGS)
def test_a_rung_run_as_another_rung(handler: Callable[[dict[str, Any], Any], dict[str, Any]], rung: str) -> None:
    other = {"rung": "reboot", "deadline_seconds": 60, "started_at": 1.0}
    message = str(run(handler, selection=SELECTED, escalation=other))
    assert f"malformed step input: escalation.rung: 'reboot'; this step runs as the {rung} rung" in message


def test_no_groups_source_is_a_configuration_error() -> None:
    settings = Settings(lock_table="l", audit_table="a", lifecycle_table="c", region="us-east-1")
    with pytest.raises(ConfigurationError, match="NIGHTSHIFT_GROUPS_PARAMETER"):
        settings.groups_source()


def test_the_reconciler_reads_no_progress_before_loading_it() -> None:
    run = reconcile.GroupRun("web", "arn:aws:states:us-east-1:123456789012:execution:sweep:s", reconcile.Budget(None))
    with pytest.raises(InvalidRequest, match="reconcile web: the progress record is used before load"):
        run.read()
