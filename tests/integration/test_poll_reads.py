"""Polls at fleet scale (docs/design.md): concurrent polls of one group share one DescribeTargetHealth per target
group per interval; a DynamoDB failure costs a read, never the poll; capacity checks never read the shared
reading. Step handlers called directly on the simulated fleet, counted at the simulator's tally.

Until a group runs several remediations at once (max_in_flight), N executions of one group cannot each hold its
lease, so these tests stand ``lease.keep`` aside: the lease is not what they test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from steps.domain import poll_reads
from steps.remediate import lease, polls
from steps.store import lifecycle, read_cache
from tests.harness import Direct, invoke

DTH = "elbv2.DescribeTargetHealth"
PORTS = (443, 8080)  # FleetSpec.target_ports
POLLERS = 4
DRAIN_POLL = 10  # tests/harness.py group_for: drain.poll_seconds
MAX_AGE = poll_reads.max_age(DRAIN_POLL)


@pytest.fixture(autouse=True)
def _no_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease, "keep", lambda *a, **k: 0.0)


def execution(n: int) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:poll-{n}"


def deregistration(d: Direct, instance: str, at: float) -> dict[str, Any]:
    return {"instance_id": instance, "at": at, "delay_seconds": 300,
            "target_groups": [{"arn": arn, "port": port} for arn, port in zip(d.tgs, PORTS, strict=True)]}


def take_out(d: Direct, instances: list[str]) -> None:
    elb = d.rt.client("elbv2")
    for instance in instances:
        for arn, port in zip(d.tgs, PORTS, strict=True):
            elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance, "Port": port}])


def put_back(d: Direct, instances: list[str]) -> None:
    elb = d.rt.client("elbv2")
    for instance in instances:
        for arn, port in zip(d.tgs, PORTS, strict=True):
            elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance, "Port": port}])


def drain_poll(d: Direct, n: int, instance: str, at: float) -> Callable[[], dict[str, Any]]:
    state = {"request": {"group": "web", "remediation_id": f"poll-{n}"},
             "deregistration": deregistration(d, instance, at)}
    return lambda: dict(invoke("check-drain", {"execution_id": execution(n), "state": state}))


def health_poll(d: Direct, n: int, instance: str, at: float) -> Callable[[], dict[str, Any]]:
    state = {"request": {"group": "web", "remediation_id": f"poll-{n}"},
             "deregistration": deregistration(d, instance, at - 600), "registration": {"at": at}}
    return lambda: dict(invoke("check-health", {"execution_id": execution(n), "state": state}))


def pollers(d: Direct, step: str) -> list[Callable[[], dict[str, Any]]]:
    """POLLERS executions of group web, each polling its own instance: drained (check-drain) or registered again
    and not healthy yet (check-health)."""
    instances = [str(i) for i in d.built.instance_ids[:POLLERS]]
    take_out(d, instances)
    at = d.now()
    if step == "check-drain":
        return [drain_poll(d, n, i, at) for n, i in enumerate(instances)]
    d.rt.clock.advance(1)
    put_back(d, instances)
    at = d.now()
    return [health_poll(d, n, i, at) for n, i in enumerate(instances)]


def reads(d: Direct) -> int:
    return int(d.sim.api_calls()[DTH])


def in_threads(calls: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every call at once (a barrier releases them together); the results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[dict[str, Any] | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(k: int) -> None:
        barrier.wait()
        try:
            results[k] = calls[k]()
        except BaseException as exc:
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed
    return [r for r in results if isinstance(r, dict)]


@pytest.mark.parametrize("step", ["check-drain", "check-health"])
def test_concurrent_polls_of_one_group_share_one_describe_target_health_per_target_group(direct: Direct,
                                                                                         step: str) -> None:
    # GIVEN four executions of group web polling their own instances (two target groups)
    calls = pollers(direct, step)
    start = reads(direct)
    # WHEN all four poll within one interval
    results = [call() for call in calls]
    # THEN one DescribeTargetHealth per target group served all four (not 4 x 2), and none is done yet
    assert reads(direct) - start == len(direct.tgs)
    assert not any(r["done"] for r in results)
    # AND a moment later (under max_age) the next polls read nothing from AWS
    direct.rt.clock.advance(MAX_AGE / 2)
    assert not any(call()["done"] for call in calls)
    assert reads(direct) - start == len(direct.tgs)
    # WHEN the reading is older than max_age: the first poll refreshes it, once per target group
    direct.rt.clock.advance(MAX_AGE)
    assert not any(call()["done"] for call in calls)
    assert reads(direct) - start == 2 * len(direct.tgs)
    # AND four polls at the same instant on a stale entry: one wins the refresh claim and reads AWS, the others take
    # the entry they hold (at most twice max_age old) or the one just stored
    direct.rt.clock.advance(MAX_AGE * 1.5)
    assert not any(r["done"] for r in in_threads(calls))
    assert reads(direct) - start == 3 * len(direct.tgs)


def test_without_the_shared_reading_every_poll_reads_every_target_group(direct: Direct,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard removed (every poll reads AWS itself, as before): the count the test above would see.
    real = polls.target_group
    monkeypatch.setattr(polls, "target_group", lambda arn, freshness, owner, fresh=False: real(arn, freshness, owner,
                                                                                             True))
    calls = pollers(direct, "check-drain")
    start = reads(direct)
    for call in calls:
        call()
    assert reads(direct) - start == POLLERS * len(direct.tgs)


def test_a_stale_entry_is_refreshed_and_the_drain_ends_on_what_aws_says_now(direct: Direct) -> None:
    # GIVEN the polls have read the targets draining
    calls = pollers(direct, "check-drain")
    assert not any(call()["done"] for call in calls)
    # WHEN the deregistration delay is over (the targets are gone) and the stored reading is stale
    direct.rt.clock.advance(301)
    start = reads(direct)
    results = [call() for call in calls]
    # THEN the first poll refreshed it (one read per target group) and every drain ends on the new reading
    assert reads(direct) - start == len(direct.tgs)
    assert all(r["done"] for r in results)


def test_a_reading_from_before_the_deregistration_is_never_used(direct: Direct) -> None:
    # GIVEN a fresh stored reading taken while the instance was still registered
    instance = str(direct.built.instance_ids[0])
    now = direct.now()
    for arn in direct.tgs:
        polls.target_group(arn, poll_reads.for_poll(DRAIN_POLL, now), "warm")
    # WHEN it is deregistered a moment later and its drain polls within max_age of that reading
    direct.rt.clock.advance(1)
    take_out(direct, [instance])
    start = reads(direct)
    result = drain_poll(direct, 0, instance, direct.now())()
    # THEN the poll read AWS itself: the stored reading predates the deregistration
    assert reads(direct) - start == len(direct.tgs)
    assert not result["done"]


@pytest.mark.parametrize("operation", ["GetItem", "UpdateItem"])
def test_a_failing_table_costs_a_read_never_the_poll(direct: Direct, operation: str) -> None:
    # GIVEN DynamoDB fails every call of one kind (the cache's reads, or its claims and writes)
    calls = pollers(direct, "check-drain")
    direct.rt.inject("dynamodb", operation, "InternalServerError", "injected", 500, None)
    start = reads(direct)
    # WHEN the four poll
    results = [call() for call in calls]
    # THEN each reads AWS itself and answers as without the cache
    assert not any(r["done"] for r in results)
    assert len(direct.tgs) < reads(direct) - start <= POLLERS * len(direct.tgs)


def test_a_stored_reading_that_does_not_decode_is_read_again_from_aws(direct: Direct) -> None:
    calls = pollers(direct, "check-drain")
    for arn in direct.tgs:
        read_cache.CachedRead(read_cache.key(read_cache.TARGET_HEALTH, arn), fetched_at=direct.now(),
                              body=b"not zlib").save()
    start = reads(direct)
    assert not calls[0]()["done"]
    assert reads(direct) - start == len(direct.tgs)


def test_capacity_checks_never_read_the_shared_reading(direct: Direct) -> None:
    # GIVEN three of the six instances draining (AWS: 3 healthy; the floor needs 50 % of 6 = 3)
    candidate = str(direct.built.instance_ids[0])
    take_out(direct, [str(i) for i in direct.built.instance_ids[3:]])
    # AND a fresh stored reading that says every instance is healthy
    everyone = [[str(i), port, "healthy", None] for i in direct.built.instance_ids for port in (443,)]
    for arn in direct.tgs:
        read_cache.publish(read_cache.key(read_cache.TARGET_HEALTH, arn), everyone, direct.now(), direct.now())
    record = lifecycle.open_record("cap-1", "web", "manual", execution(9), direct.now())
    lifecycle.advance(record, "select", {"instance_id": candidate}, direct.now(), execution(9), instance_id=candidate)
    start = reads(direct)
    # WHEN the capacity check asks whether the candidate may leave service
    result = invoke("check-capacity", {"execution_id": execution(9), "state": {
        "request": {"group": "web", "remediation_id": "cap-1"},
        "selection": {"action": "remediate", "instance_id": candidate}}})
    # THEN it read AWS (every target group) and refused: taking one of the 3 healthy out breaks the floor
    assert reads(direct) - start >= len(direct.tgs)
    assert result["allowed"] is False and result["code"] == "SKIPPED_CAPACITY", result
