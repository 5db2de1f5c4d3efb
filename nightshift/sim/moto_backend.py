"""Every place the simulator reaches into moto's internals, each with the gap it works around.

moto is pinned exactly (pyproject: moto==5.2.5); re-check each function against a new version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from moto.autoscaling.models import autoscaling_backends
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.ec2.models import ec2_backends
from moto.elbv2.models import elbv2_backends
from moto.ssm.models import ssm_backends

from nightshift.runtime.interceptor import AwsError

DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
# Gap: moto/elbv2/models.py:1306 checks `not in range(0, 3600)`, so it rejects 3600, which AWS allows.
MOTO_MAX_DEREGISTRATION_DELAY = 3599

T = TypeVar("T")


def as_aws_error(call: Callable[[], T]) -> T:
    """Run a moto backend call, turning moto's exceptions into the AwsError the client would raise."""
    try:
        return call()
    except ServiceException as exc:
        raise AwsError(exc.code, exc.message) from exc
    except JsonRESTError as exc:
        raise AwsError(exc.error_type, exc.message, status=int(exc.code)) from exc


@contextmanager
def _only_ami(backend: Any, image_id: str) -> Iterator[None]:
    # Gap: moto/ec2/models/instances.py:193 filters every known AMI (~1300 by default) for each instance
    # it launches, about 8 ms per instance; hiding the others while launching makes 5000 instances feasible.
    saved = backend.amis
    backend.amis = {image_id: saved[image_id]} if image_id in saved else {}
    try:
        yield
    finally:
        added = {k: v for k, v in backend.amis.items() if k not in saved}
        backend.amis = saved
        saved.update(added)


def image_ids(account_id: str, region: str, count: int) -> list[str]:
    """``count`` distinct AMI ids: moto's first ones, padded with made-up ids (AMI validation is off)."""
    known = list(ec2_backends[account_id][region].amis)[:count]
    made_up = [f"ami-0abcdef12345678{k:02d}" for k in range(90, 90 + count)]
    return known + [i for i in made_up if i not in known][:count - len(known)]


def launch_instances(account_id: str, region: str, image_id: str, subnet_id: str, count: int,
                     instance_type: str, tags: dict[str, str]) -> list[str]:
    """Launch ``count`` instances in one subnet through the backend, skipping the XML round trip.

    Gap: moto serializes and botocore parses about 4 ms of XML per instance in RunInstances, and each
    default root volume is attached through moto/ec2/models/instances.py:790 ``get_instance``, a linear
    scan of every instance (quadratic at fleet scale). An empty block device mapping skips the root
    volume, which nothing in the simulation reads.
    """
    backend = ec2_backends[account_id][region]
    with _only_ami(backend, image_id):
        reservation = as_aws_error(lambda: backend.run_instances(
            image_id, count, None, [],
            instance_type=instance_type, is_instance_type_default=False, region_name=region,
            subnet_id=subnet_id, placement=None, nics=[], tags={"instance": dict(tags)},
            block_device_mappings=[], client_token=None,
        ))
    return [instance.id for instance in reservation.instances]


def set_spot(account_id: str, region: str, instance_id: str) -> None:
    """DescribeInstances then reports InstanceLifecycle "spot" (moto's own attribute for it)."""
    ec2_backends[account_id][region].get_instance(instance_id).lifecycle = "spot"


def set_root_device_type(account_id: str, region: str, instance_id: str, root_device_type: str) -> None:
    """What DescribeInstances reports as the instance's RootDeviceType (moto launches every instance "ebs")."""
    ec2_backends[account_id][region].get_instance(instance_id).root_device_type = root_device_type


def set_launch_times(account_id: str, region: str, launched: dict[str, float]) -> None:
    """What DescribeInstances reports as each instance's LaunchTime (epoch seconds on the virtual clock).

    Gap: moto/ec2/models/instances.py:178 sets ``launch_time = utcnow()`` (the wall clock) once, at RunInstances,
    and its ``start()`` (:504) never renews it; on AWS it is "The time that the instance was last launched", which
    a start after a stop renews. https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html
    One pass over moto's instances (its ``get_instance`` scans them all: quadratic for a fleet); moto keeps a
    naive UTC datetime there."""
    for instance in ec2_backends[account_id][region].all_instances():
        if instance.id in launched:
            instance.launch_time = datetime.fromtimestamp(launched[instance.id], UTC).replace(tzinfo=None)


def tag_resources(account_id: str, region: str, resource_ids: list[str], tags: dict[str, str]) -> None:
    # Gap: per-instance Name tags would cost one CreateTags round trip each; the backend call is a dict update.
    ec2_backends[account_id][region].create_tags(resource_ids, tags)


def _target_group(tg_arn: str) -> Any:
    account_id, region = arn_account_region(tg_arn)
    group = elbv2_backends[account_id][region].target_groups.get(tg_arn)
    if group is None:
        raise AwsError("TargetGroupNotFound", "One or more target groups not found")
    return group


def arn_account_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


def register_known_targets(tg_arn: str, targets: list[tuple[str, int]]) -> None:
    """Register instances the simulator launched itself (so they exist and run) without moto's checks.

    Gap: moto/elbv2/models.py:190 looks each target up with ``get_instance_by_id``, a linear scan of
    every instance; registering a 5000-instance fleet that way takes seconds per target group.
    """
    group = _target_group(tg_arn)
    for instance_id, port in targets:
        group.targets[instance_id] = {"Id": instance_id, "Port": port}
        group.deregistered_targets.pop(instance_id, None)


def register_targets(tg_arn: str, targets: list[dict[str, Any]]) -> None:
    """Keep moto's own target list in step with the simulator (moto validates, as AWS would)."""
    group = _target_group(tg_arn)
    as_aws_error(lambda: group.register(targets))


def deregister_targets(tg_arn: str, instance_ids: list[str]) -> None:
    """Remove targets from moto's list. Gap: moto/elbv2/models.py:200 raises InvalidTarget for a target
    that is no longer registered, where AWS accepts the call; callers pass only registered ones."""
    group = _target_group(tg_arn)
    registered = [{"Id": i} for i in instance_ids if i in group.targets]
    if registered:
        as_aws_error(lambda: group.deregister(registered))


def target_group_attributes(tg_arn: str) -> dict[str, str]:
    return {key: str(value) for key, value in _target_group(tg_arn).attributes.items()}


def modify_target_group_attributes(tg_arn: str, attributes: dict[str, str]) -> None:
    """Apply attributes in moto, clamping the one value moto wrongly rejects (see above)."""
    account_id, region = arn_account_region(tg_arn)
    sent = dict(attributes)
    if DEREGISTRATION_DELAY in sent:
        sent[DEREGISTRATION_DELAY] = str(min(int(sent[DEREGISTRATION_DELAY]), MOTO_MAX_DEREGISTRATION_DELAY))
    backend = elbv2_backends[account_id][region]
    as_aws_error(lambda: backend.modify_target_group_attributes(tg_arn, sent))


def stop_or_start(account_id: str, region: str, instance_ids: list[str],
                  start: bool) -> list[tuple[str, tuple[int, str], tuple[int, str]]]:
    """Stop or start instances the simulator does not own (a call mixing them with fleet instances is
    answered by the simulator): (id, (code, name) now, (code, name) before), as moto changed them."""
    backend = ec2_backends[account_id][region]
    change = backend.start_instances if start else backend.stop_instances
    return [(instance.id, (instance._state.code, instance._state.name), (previous.code, previous.name))
            for instance, previous in as_aws_error(lambda: change(instance_ids))]


def autoscaling_group_names(account_id: str, region: str) -> list[str]:
    """Groups moto itself holds (the simulator's groups are not created in moto)."""
    return list(autoscaling_backends[account_id][region].autoscaling_groups)


def instance_exists(account_id: str, region: str, instance_id: str) -> bool:
    return ec2_backends[account_id][region].get_instance_by_id(instance_id) is not None


def ssm_knows_command(account_id: str, region: str, command_id: str) -> bool:
    """Gap: for a command id it never issued moto/ssm/models.py:2444 raises InvalidCommandId, where AWS
    answers InvocationDoesNotExist; the simulator only lets moto answer for commands moto has."""
    backend = ssm_backends[account_id][region]
    return any(command.command_id == command_id for command in backend._commands)
