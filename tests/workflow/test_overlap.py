"""Two groups that reach the same instance: never two remediations of one instance at once (issue 14, item 2).

Validation refuses two groups that declare the same target group (tests/unit/test_careless_input.py), but it
cannot see an instance that is registered in a target group of each group: here group "web" declares the
fleet's HTTPS target group and group "api" its HTTP one, and every instance is behind both. Started
together (as the sweep starts up to four groups at once), both select the leaking instance; the instance
claim lets one of them have it.

Such a shared instance is now passed over by both groups (SKIPPED_SHARED, tests/workflow/test_shared_instances.py);
the claim is the second line behind that guard (an instance registered in the other group's target group
between the guard's check and the selection's claim). The tests of the claim on a shared instance switch the
guard off, so that what they test is the claim alone.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import audit, claim, lock
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow


@pytest.fixture
def shared_guard_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from steps.remediate import blockers

    monkeypatch.setattr(blockers, "serves_another_group", lambda *_: None)


def _declare_two_groups_over_one_fleet(h: Any) -> None:
    https, http = h.built.target_group_arns
    web = {**h.group, "name": "web", "target_group_arns": [https]}
    api = {**h.group, "name": "api", "target_group_arns": [http]}
    h.rt.declare_groups([web, api])


def _start_together(h: Any, groups: list[str]) -> list[dict[str, Any]]:
    arns: list[str] = []
    barrier = threading.Barrier(len(groups))

    def start(group: str) -> None:
        barrier.wait()
        arns.append(h.rt.start({"group": group, "reason": "overlap"}, name=f"overlap-{group}"))

    threads = [threading.Thread(target=start, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [h.rt.wait(arn, timeout=300) for arn in arns]


def test_two_groups_over_one_instance_started_together_reboot_it_once(harness: Any, shared_guard_off: None) -> None:
    h = harness()
    _declare_two_groups_over_one_fleet(h)
    results = _start_together(h, ["web", "api"])
    assert all(r["status"] == "SUCCEEDED" for r in results), [r.get("cause") for r in results]
    # THEN exactly one RebootInstances for the leaking instance, counted at the API; no other instance touched
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    assert all(not h.sim.reboot_requests(i) for i in h.built.instance_ids if i != h.leaker)
    # AND the other group passed it over with an audited reason naming the holder
    trails = {g: [r for r in audit.for_group(g)] for g in ("web", "api")}
    skipped = [(g, r) for g, records in trails.items() for r in records if r.event == "SKIPPED_CLAIMED"]
    assert len(skipped) == 1
    loser, record = skipped[0]
    winner = "api" if loser == "web" else "web"
    assert record.instance_id == h.leaker
    winner_arn = next(r["executionArn"] for r in results if r["executionArn"].endswith(f"overlap-{winner}"))
    assert audit.as_dict(record)["details"]["holder"] == winner_arn
    assert "REBOOT_REQUESTED" in [r.event for r in trails[winner]]
    assert "REBOOT_REQUESTED" not in [r.event for r in trails[loser]]
    nothing = next(r for r in trails[loser] if r.event == "NOTHING_TO_DO")
    assert "claimed by another remediation" in nothing.reason
    outcomes = {json.loads(r["output"])["outcome"]["status"] for r in results}
    assert outcomes == {"remediated", "nothing_to_do"}
    # AND everything is back in service, and neither lock nor claim is left behind
    assert all(h.in_service_everywhere(i) for i in h.built.instance_ids)
    assert lock.holder("web") is None and lock.holder("api") is None
    assert claim.holder(h.leaker) is None


def test_every_path_releases_the_claim(harness: Any) -> None:
    """Success, a guard's skip, a dry run and the restore path each leave no claim behind."""
    h = harness(FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=60)}))
    assert h.run(dry_run=True)["status"] == "SUCCEEDED"
    assert claim.holder(h.leaker) is None
    h.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "not allowed to reboot", times=1)
    failed = h.run()
    assert failed["status"] == "FAILED" and h.in_service_everywhere(h.leaker)
    assert claim.holder(h.leaker) is None
    h.rt.clock.advance(600)
    assert json.loads(h.run()["output"])["outcome"]["status"] == "remediated"
    assert claim.holder(h.leaker) is None
    h.rt.clock.advance(600)
    assert json.loads(h.run()["output"])["outcome"] == {"status": "skipped", "code": "SKIPPED_COOLDOWN"}
    assert claim.holder(h.leaker) is None


def test_a_claim_whose_owner_no_longer_runs_is_released_by_the_reconciler_and_taken_over(harness: Any) -> None:
    h = harness()
    dead = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:died-after-selecting"
    now = h.rt.clock.now()
    assert claim.acquire(h.leaker, dead, "web", "died-after-selecting", now, 300, lambda _: "FAILED").claimed
    # a claim of a live execution is not taken
    live = claim.acquire(h.leaker, "arn:other", "web", "other", now, 300, lambda _: "RUNNING")
    assert not live.claimed and live.holder == dead
    # WHEN the sweep runs (past the grace an owner DescribeExecution cannot find yet is given), its reconciler
    # releases the dead execution's claim, audited
    h.rt.clock.advance(lock.MISSING_OWNER_GRACE_SECONDS + 1)
    sweep = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    assert sweep["status"] == "SUCCEEDED", sweep.get("cause")
    assert claim.holder(h.leaker) is None
    released = [r for r in audit.for_group("web") if r.event == "CLAIM_RELEASED_STALE"]
    assert len(released) == 1 and released[0].instance_id == h.leaker
    assert audit.as_dict(released[0])["details"]["owner"] == dead


def test_an_instance_named_from_the_console_while_another_group_remediates_it_is_passed_over(
        harness: Any, shared_guard_off: None) -> None:
    h = harness()
    _declare_two_groups_over_one_fleet(h)
    seen: list[dict[str, Any]] = []

    def start_api_mid_drain(name: str, *_: Any) -> None:
        if name == "nightshift-check-drain" and not seen:
            seen.append(h.rt.run({"group": "api", "instance_id": h.leaker}, name="named-mid-drain"))

    h.rt.router.before.append(start_api_mid_drain)
    web = h.rt.run({"group": "web"}, name="web-remediation")
    assert web["status"] == "SUCCEEDED" and seen and seen[0]["status"] == "SUCCEEDED", seen
    assert json.loads(seen[0]["output"])["outcome"]["status"] == "nothing_to_do"
    nothing = next(r for r in audit.for_group("api") if r.event == "NOTHING_TO_DO")
    assert "claimed by another remediation" in nothing.reason and web["executionArn"] in nothing.reason
    assert len(h.sim.reboot_requests(h.leaker)) == 1
    assert claim.holder(h.leaker) is None
