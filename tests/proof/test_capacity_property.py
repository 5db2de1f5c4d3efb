"""Property: on random fleets where the capacity floor binds, Nightshift never takes a target group (or, with
``per_az``, the candidate's AZ) below its floor, never has two instances of the group out at once, sends at
most one RebootInstances per remediation, and leaves everything back in service with the lock free.

Each example builds a fleet whose floor sits right at the healthy count (``floor = healthy - 2``, ``healthy - 1``
or ``healthy`` in the tightest target group: healthy after one removal is one above the floor, on it, or one
below it, from ``min_healthy`` or from ``min_healthy_percent``), over 1-3 uneven AZs, two target
groups that some instances are only half in, in an Auto Scaling group or not, with random leakers, random
health-check flaps (``InstanceSpec.health_check_failures``) and in-flight times; then runs several
remediations and sweeps in sequence with the virtual clock moving between them. After the whole run, every
instant of the simulator's capacity timeline is checked against an oracle written here from the README's
rule, not from ``steps.domain.capacity``:

    floor(target group) = max(min_healthy, ceil(registered * min_healthy_percent / 100))
    floor(candidate's AZ in a target group, per_az) = max(1, ceil(registered in that AZ * percent / 100))

with ``registered`` the targets the target group lists (any state) just before Nightshift's deregistration,
and only ``healthy`` counting as healthy. A flap that starts after that decision is not Nightshift's doing:
a target that was healthy at the decision and is unhealthy now *because of a flap* is credited back;
nothing else is.

``make proof`` runs NIGHTSHIFT_PROOF_EXAMPLES (1,000) random examples; ``make test`` runs the small
derandomized profile. ``test_property_finds_a_disabled_capacity_guard`` turns the guard off and checks that
the same property fails, so this test stays able to fail.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, seed, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from nightshift.runtime.runner import FINISHED, LocalRuntime
from nightshift.sim import AutoScalingSpec, FleetSimulator, FleetSpec, InstanceSpec
from steps.store import audit, lock
from tests.harness import group_for

AZS = ("us-east-1a", "us-east-1b", "us-east-1c")
HEALTH_CHECK_INTERVAL = 10
HEALTHY_THRESHOLD = 3
STEP_SECONDS = 0.25  # virtual time one Lambda step takes (a real step takes 50-500 ms on AWS)
SETTLE_SECONDS = 900  # after the last step: every health check has had time to pass again

# `make proof`: NIGHTSHIFT_PROOF_EXAMPLES random examples (NIGHTSHIFT_PROOF_SEED to replay one run).
# Otherwise (make test, CI): a small derandomized set, the same examples on every run.
PROOF_EXAMPLES = int(os.environ.get("NIGHTSHIFT_PROOF_EXAMPLES", "0"))
PROOF_SHARDS = int(os.environ.get("NIGHTSHIFT_PROOF_SHARDS", "2")) if PROOF_EXAMPLES else 1
PROOF_LOG = os.environ.get("NIGHTSHIFT_PROOF_LOG")
PROOF_SEED = int(os.environ.get("NIGHTSHIFT_PROOF_SEED", str(int(time.time()))))
CI_EXAMPLES = 10
settings.register_profile("nightshift-proof", max_examples=PROOF_EXAMPLES or 1, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                          print_blob=True)
settings.register_profile("nightshift-ci", max_examples=CI_EXAMPLES, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                          print_blob=True)
PROFILE = settings.get_profile("nightshift-proof" if PROOF_EXAMPLES else "nightshift-ci")


# -- the random fleet ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    size: int
    azs: int
    asg_min: int | None  # None: no Auto Scaling group
    per_az: bool
    floor_from: str  # "count" (min_healthy) or "percent" (min_healthy_percent)
    floor_offset: int  # floor = healthy - 1 + offset: a removal leaves one spare (-1), none (0), or is refused (1)
    leakers: dict[int, float]  # index -> memory %
    inflight: float | None
    deregistration_delay: int
    draining_from_first: tuple[int, ...]  # deregistered from the HTTPS group before the first run
    only_in_first: tuple[int, ...]  # never in the HTTP group (deregistered and gone before the first run)
    flaps: dict[int, tuple[tuple[float, float], ...]]  # index -> health-check failure windows after build
    steps: tuple[tuple[str, int], ...]  # ("remediate" | "sweep", seconds the clock moves on afterwards)


ANY_BOOL = st.booleans()


def _windows() -> st.SearchStrategy[tuple[tuple[float, float], ...]]:
    window = st.tuples(st.integers(0, 2400), st.integers(15, 240)).map(lambda w: (float(w[0]), float(w[0] + w[1])))
    return st.lists(window, min_size=1, max_size=2).map(tuple)


@st.composite
def shapes(draw: st.DrawFn, per_az: st.SearchStrategy[bool] = ANY_BOOL) -> Shape:
    size = draw(st.integers(2, 8))
    azs = draw(st.integers(1, min(3, size)))
    index = st.integers(0, size - 1)
    leakers = draw(st.dictionaries(index, st.sampled_from([70.0, 85.0, 99.0]), min_size=1, max_size=3))
    draining = tuple(sorted(draw(st.sets(index, max_size=2))))
    only_first = tuple(sorted(draw(st.sets(index, max_size=2))))
    asg = draw(st.booleans())
    return Shape(
        size=size, azs=azs,
        asg_min=draw(st.integers(0, size)) if asg else None,
        per_az=draw(per_az),
        floor_from=draw(st.sampled_from(["count", "percent"])),
        floor_offset=draw(st.sampled_from([-1, 0, 0, 1])),
        leakers=leakers,
        inflight=draw(st.sampled_from([0.0, 25.0, 200.0, None])),
        deregistration_delay=draw(st.sampled_from([30, 60, 180])),
        draining_from_first=draining, only_in_first=only_first,
        flaps=draw(st.dictionaries(index, _windows(), max_size=3)),
        steps=tuple(draw(st.lists(st.tuples(st.sampled_from(["remediate", "remediate", "sweep"]),
                                            st.integers(0, 900)), min_size=2, max_size=4))),
    )


def fleet_spec(shape: Shape, name: str) -> FleetSpec:
    specs = {}
    for i in set(shape.leakers) | set(shape.flaps):
        specs[i] = InstanceSpec(leak_to_percent=shape.leakers.get(i), inflight_seconds=shape.inflight,
                                health_check_failures=shape.flaps.get(i, ()))
    return FleetSpec(name=name, size=shape.size, azs=AZS[:shape.azs], leaking=specs,
                     deregistration_delay=shape.deregistration_delay,
                     health_check_interval=HEALTH_CHECK_INTERVAL, healthy_threshold=HEALTHY_THRESHOLD,
                     default=InstanceSpec(inflight_seconds=shape.inflight),
                     auto_scaling=AutoScalingSpec(min_size=shape.asg_min) if shape.asg_min is not None else None)


def ceil_percent(registered: int, percent: float) -> int:
    return math.ceil(Fraction(registered) * Fraction(percent) / 100)


def floor_settings(shape: Shape, healthy: int, registered: int) -> tuple[int, float]:
    """min_healthy and min_healthy_percent that put the floor at healthy - 1 + offset (the binding zone)."""
    target = max(0, healthy - 1 + shape.floor_offset)
    if shape.floor_from == "count":
        return target, 0.0
    # The smallest whole percentage whose share of the registered targets is at least the target.
    percent = next(p for p in range(101) if ceil_percent(registered, p) >= min(target, registered))
    return 0, float(percent)


# -- the oracle ------------------------------------------------------------------------------------------------

@dataclass
class Run:
    rt: LocalRuntime
    sim: FleetSimulator
    built: Any
    shape: Shape
    min_healthy: int
    percent: float
    group: str
    test_deregistrations: set[tuple[str, str, float]] = field(default_factory=set)  # (instance, TG, when)
    # (instance, TG) registered and not draining when the first run starts: where it must be at the end
    memberships: set[tuple[str, str]] = field(default_factory=set)
    windows: list[tuple[str, float, float, str]] = field(default_factory=list)  # (kind, start, end, outcome)
    tally: tuple[int, int] = (0, 0)  # RebootInstances sent, removals the floor refused


def healthy(sim: FleetSimulator, instance: str, tg: str, at: float) -> bool:
    return sim.target_state(instance, tg, at=at) == "healthy"


def flapping(run: Run, instance: str, at: float) -> bool:
    """A test-injected flap is failing, or still recovering from, this instance's health checks at ``at``."""
    index = run.built.instance_ids.index(instance)
    recover = HEALTHY_THRESHOLD * HEALTH_CHECK_INTERVAL
    origin = run.sim.build_time
    return any(origin + start <= at <= origin + end + recover for start, end in run.shape.flaps.get(index, ()))


def nightshift_deregistrations(run: Run) -> dict[str, list[float]]:
    """Instance -> the instants something other than this test deregistered it (Nightshift, or its ASG
    for a Standby Nightshift asked for), read from the simulator's registrations."""
    found: dict[str, list[float]] = {}
    for instance in run.built.instance_ids:
        simulated = run.sim.instance(instance)
        assert simulated is not None
        for tg, record in simulated.targets.items():
            for registration in record.registrations:
                at = registration.deregistered_at
                if at is not None and (instance, tg, at) not in run.test_deregistrations:
                    found.setdefault(instance, []).append(at)
    return {i: sorted(set(times)) for i, times in found.items()}


def floor_failures(run: Run, out: str, decided: float, at: float) -> list[str]:
    """Where the fleet is below the floor at ``at`` while Nightshift has ``out`` out since ``decided``."""
    sim, built = run.sim, run.built
    before = decided - 1e-6
    zones = built.availability_zones
    problems = []
    for tg in built.target_group_arns:
        if sim.target_state(out, tg, at=before) is None:
            continue  # not a member: its removal costs this group nothing
        scopes: list[tuple[str, list[str], int]] = []
        members = [i for i in built.instance_ids if sim.target_state(i, tg, at=before) is not None]
        scopes.append(("target group", members,
                       max(run.min_healthy, ceil_percent(len(members), run.percent))))
        if run.shape.per_az:
            in_zone = [i for i in members if zones[i] == zones[out]]
            scopes.append((f"AZ {zones[out]}", in_zone, max(1, ceil_percent(len(in_zone), run.percent))))
        for name, scope, floor in scopes:
            serving = sum(1 for i in scope if i != out and healthy(sim, i, tg, at))
            credited = sum(1 for i in scope if i != out and not healthy(sim, i, tg, at)
                           and healthy(sim, i, tg, before) and flapping(run, i, at))
            if serving + credited < floor:
                problems.append(f"below the floor: {tg.split('/')[-2]} {name} had {serving} healthy "
                                f"(+{credited} lost to flaps) < {floor} at t={at - sim.build_time:.0f}s "
                                f"while Nightshift had {out} out (decided at t={decided - sim.build_time:.0f}s)")
    return problems


def back_in_service(sim: FleetSimulator, instance: str, tgs: list[str], at: float) -> bool:
    return all(healthy(sim, instance, tg, at) for tg in tgs)


def check_timeline(run: Run) -> None:
    """Every instant of the whole run: at most one instance out that Nightshift took out, and the floor."""
    sim, built = run.sim, run.built
    taken = nightshift_deregistrations(run)
    timeline = sim.capacity_timeline()
    times = sorted({p.time for p in timeline} | {t for ts in taken.values() for t in ts})
    member_tgs = {i: [tg for tg in built.target_group_arns if (i, tg) in run.memberships] for i in built.instance_ids}
    out_since: dict[str, float] = {}
    for at in times:
        for instance, decisions in taken.items():
            if at in decisions and instance not in out_since:
                out_since[instance] = at
        for instance in list(out_since):
            if at > out_since[instance] and back_in_service(sim, instance, member_tgs[instance], at):
                del out_since[instance]
        assert len(out_since) <= 1, (f"two instances out at once that Nightshift took out: {sorted(out_since)} "
                                     f"at t={at - sim.build_time:.0f}s")
        for instance, decided in out_since.items():
            problems = floor_failures(run, instance, decided, at)
            assert not problems, problems[0]


def check_requests(run: Run) -> None:
    """At most one RebootInstances per remediation (each remediate or sweep run remediates one instance at
    most: one group), counted at the API; only leakers are ever rebooted."""
    sim, built = run.sim, run.built
    leakers = {built.instance_ids[i] for i in run.shape.leakers}
    for kind, start, end, _ in run.windows:
        sent = [(i, t) for i in built.instance_ids for t in sim.reboot_requests(i) if start <= t <= end]
        assert len(sent) <= 1, f"{len(sent)} RebootInstances in one {kind} run: {sent}"
    rebooted = {i for i in built.instance_ids if sim.reboot_requests(i)}
    assert rebooted <= leakers, f"rebooted instances that never leaked: {sorted(rebooted - leakers)}"


def check_end(run: Run) -> None:
    sim, built = run.sim, run.built
    last_flap = max((end for windows in run.shape.flaps.values() for _, end in windows), default=0.0)
    later = max(sim.now(), sim.build_time + last_flap) + SETTLE_SECONDS  # every flap over and recovered
    for instance in built.instance_ids:
        for tg in built.target_group_arns:
            if (instance, tg) in run.memberships:
                assert sim.target_state(instance, tg, at=later) == "healthy", f"{instance} not back in {tg}"
        if built.auto_scaling_group:
            assert sim.asg_lifecycle(instance) == "InService", f"{instance} {sim.asg_lifecycle(instance)}"
        assert sim.instance_state(instance) == "running"
    assert lock.holder(run.group) is None, "the group lock is still held"
    # SUCCEEDED, or FAILED with CapacityLost: the rest of the group lost capacity (a flap) while the instance
    # drained, so it was put back instead of rebooted (README, Safety) -- and it is back, as checked above.
    failed = [w for w in run.windows if w[3] not in ("SUCCEEDED", "FAILED CapacityLost")]
    assert not failed, f"runs did not succeed: {failed}"


# -- one example ------------------------------------------------------------------------------------------------

class Runtimes:
    """One LocalRuntime serves several examples (creating its tables and state machines costs seconds), each
    example with a fleet and a group of its own; it is recycled every RECYCLE examples and after a failure,
    so no example ever sees what a failed one left behind."""

    RECYCLE = 20

    def __init__(self) -> None:
        self.rt: LocalRuntime | None = None
        self.used = 0
        self.made = 0

    def next(self) -> tuple[LocalRuntime, str]:
        if self.rt is None or self.used >= self.RECYCLE:
            self.close()
            # A fixed virtual cost per Lambda step: an example replays exactly (NIGHTSHIFT_PROOF_SEED, shrinking)
            self.rt = LocalRuntime(log_stream=io.StringIO(), step_seconds=STEP_SECONDS).__enter__()
        self.used += 1
        self.made += 1
        return self.rt, f"p{self.made}"

    def close(self) -> None:
        if self.rt is not None:
            self.rt.__exit__(None, None, None)
        self.rt, self.used = None, 0


def finish(rt: LocalRuntime, arn: str) -> dict[str, Any]:
    """rt.wait, polling less often: every poll competes with moto's engine thread for the interpreter."""
    sfn = rt.client("stepfunctions")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        description: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if description["status"] in FINISHED:
            return description
        time.sleep(0.05)
    raise TimeoutError(f"{arn} still running after 600 s of real time")


def exercise(shape: Shape, runtimes: Runtimes) -> Run:
    rt, name = runtimes.next()
    started = time.monotonic()
    try:
        run = _exercise(rt, name, shape)
    except BaseException:
        runtimes.close()
        raise
    rebooted, refused = run.tally
    if PROOF_LOG:  # make proof's progress, one line per passing example (xdist workers print nothing)
        with open(PROOF_LOG, "a") as log:
            log.write(f"ok {time.monotonic() - started:.1f} s: size {shape.size}, {shape.azs} AZs, per_az "
                      f"{shape.per_az}, asg {shape.asg_min is not None}, {len(shape.steps)} runs, {rebooted} "
                      f"reboots, {refused} refused by the floor\n")
    return run


def _exercise(rt: LocalRuntime, name: str, shape: Shape) -> Run:
    sim, built = rt.add_fleet(fleet_spec(shape, name))
    ids, (https, http) = built.instance_ids, built.target_group_arns
    elbv2 = rt.client("elbv2")
    test_deregistrations = set()
    # GIVEN some instances were never in the HTTP group (deregistered and gone before the first run) ...
    for i in shape.only_in_first:
        elbv2.deregister_targets(TargetGroupArn=http, Targets=[{"Id": ids[i], "Port": 8080}])
        test_deregistrations.add((ids[i], http, sim.now()))
    rt.clock.advance(shape.deregistration_delay + 1)
    # ... and some are still draining from the HTTPS group when Nightshift starts
    for i in shape.draining_from_first:
        elbv2.deregister_targets(TargetGroupArn=https, Targets=[{"Id": ids[i], "Port": 443}])
        test_deregistrations.add((ids[i], https, sim.now()))
    now = sim.now()
    memberships = {(i, tg) for i in ids for tg in (https, http)
                   if sim.target_state(i, tg, at=now) not in (None, "draining")}
    counts = [(sum(healthy(sim, i, tg, now) for i in ids),
               sum(sim.target_state(i, tg, at=now) is not None for i in ids)) for tg in (https, http)]
    tightest_healthy, registered = min(counts)
    min_healthy, percent = floor_settings(shape, tightest_healthy, registered)
    group = group_for(built, min_healthy=min_healthy, min_healthy_percent=percent, per_az=shape.per_az,
                      # a zero floor must be asked for (validation refuses it otherwise); the oracle's floor is 0 too
                      allow_zero_healthy=min_healthy == 0 and percent == 0,
                      blockers={"storm": {"max_remediations": 50, "max_failures": 50, "window_seconds": 60}},
                      # few polls per remediation: each Lambda step costs real time in moto's engine
                      drain={"poll_seconds": 20, "quiet_checks": 1}, boot={"poll_seconds": 20},
                      health={"poll_seconds": 20, "deadline_seconds": 900})
    rt.declare_groups([group])
    run = Run(rt, sim, built, shape, min_healthy, percent, name, test_deregistrations, memberships)
    # WHEN remediations and sweeps run one after another, time passing between them
    for kind, pause in shape.steps:
        start = sim.now()
        if kind == "remediate":
            result = finish(rt, rt.start({"group": name}))
        else:
            result = finish(rt, rt.start({}, machine="sweep"))
        outcome = result["status"]
        if outcome == "FAILED":  # the execution's error is RemediationFailed; its cause names the step's error
            lost = "CapacityLost" in f"{result.get('error')} {result.get('cause')}"
            outcome += " CapacityLost" if lost else f" {result.get('error')}: {result.get('cause')}"
        run.windows.append((kind, start, sim.now(), outcome))
        rt.clock.advance(pause)
    rt.clock.advance(SETTLE_SECONDS)
    # The next scheduled sweep: its reconciler ends what a remediation left to it (an ExitStandby AWS refused
    # while the instance was still EnteringStandby: STANDBY_EXIT_PENDING). It may remediate, checked as well.
    start = sim.now()
    result = finish(rt, rt.start({}, machine="sweep"))
    run.windows.append(("final sweep", start, sim.now(), result["status"]))
    rt.clock.advance(SETTLE_SECONDS)
    # THEN, over every simulated instant of the whole run:
    check_timeline(run)
    check_requests(run)
    check_end(run)
    # what the example exercised (make proof prints the tallies with --hypothesis-show-statistics)
    rebooted = sum(len(sim.reboot_requests(i)) for i in ids)
    refused = sum(1 for r in audit.for_group(name) if r.event == "SKIPPED_CAPACITY")
    if currently_in_test_context():
        event(f"reboots: {min(rebooted, 3)}{'+' if rebooted > 3 else ''}")
        event("the floor refused a removal" if refused else "the floor never refused")
        event("per AZ" if shape.per_az else "per target group")
    run.tally = (rebooted, refused)
    return run


def property_test(config: settings, seed_value: int | None = None,
                  fleets: st.SearchStrategy[Shape] | None = None) -> Callable[[], None]:
    """The property under ``config``, with a runtime shared by its examples."""
    def check(shape: Shape) -> None:
        exercise(shape, runtimes)

    runtimes = Runtimes()
    test = config(given(shape=fleets if fleets is not None else shapes())(check))
    if seed_value is not None:
        test = seed(seed_value)(test)

    def run() -> None:
        try:
            test()
        finally:
            runtimes.close()

    return run


@pytest.mark.parametrize("shard", range(PROOF_SHARDS))
def test_capacity_floor_holds_on_random_fleets(shard: int) -> None:
    """make test: CI_EXAMPLES derandomized examples. make proof: NIGHTSHIFT_PROOF_EXAMPLES random ones, split
    over PROOF_SHARDS shards (one per pytest-xdist worker), shard n seeded NIGHTSHIFT_PROOF_SEED + n."""
    if not PROOF_EXAMPLES:
        property_test(PROFILE)()
        return
    share = math.ceil(PROOF_EXAMPLES / PROOF_SHARDS)
    print(f"shard {shard}: {share} examples, seed {PROOF_SEED + shard}")
    property_test(settings(PROFILE, max_examples=share), PROOF_SEED + shard)()


# -- the property can fail --------------------------------------------------------------------------------------

MUTANT_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                           phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def test_property_finds_a_disabled_capacity_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the capacity guard always allowing, the same property must find a fleet taken below its floor."""
    from steps.domain.capacity import CapacityDecision
    from steps.remediate import blockers

    monkeypatch.setattr(blockers, "healthy_after_removal",
                        lambda *_, **__: CapacityDecision(True, (), "capacity guard disabled (mutant)"))
    with pytest.raises(AssertionError, match=r"below the floor|two instances out"):
        property_test(MUTANT_SETTINGS)()


def test_property_finds_a_disabled_per_az_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """With only the per-AZ branch of the guard removed, the property must still find a counterexample."""
    from steps.domain import capacity
    from steps.remediate import blockers

    def without_zones(states: Any, candidate: str, min_healthy: int, percent: float, zones: Any = None) -> Any:
        return capacity.healthy_after_removal(states, candidate, min_healthy, percent, None)

    monkeypatch.setattr(blockers, "healthy_after_removal", without_zones)
    with pytest.raises(AssertionError, match=r"below the floor: .* AZ"):
        property_test(MUTANT_SETTINGS, fleets=shapes(per_az=st.just(True)))()  # only per_az fleets can tell


def test_capacity_lost_to_a_flap_mid_drain_is_put_back_and_the_sweep_ends_standby() -> None:
    """The shape `make proof` found (seed 20261128) when the property still demanded SUCCEEDED and InService
    without a sweep: an ASG member only in the HTTPS group enters Standby and drains; an HTTP target flaps
    meanwhile, so the re-check before RebootInstances fails (CapacityLost) and the instance is put back while
    still EnteringStandby; the next sweep's reconciler ends its Standby. Nothing is ever below the floor."""
    shape = Shape(size=6, azs=1, asg_min=0, per_az=False, floor_from="count", floor_offset=1,
                  leakers={0: 99.0}, inflight=0.0, deregistration_delay=60, draining_from_first=(),
                  only_in_first=(0,), flaps={1: ((50.0, 200.0),)}, steps=(("remediate", 0),))
    runtimes = Runtimes()
    try:
        run = exercise(shape, runtimes)
    finally:
        runtimes.close()
    assert run.windows[0][3] == "FAILED CapacityLost"  # the scenario really happened
    assert run.sim.reboot_requests(run.built.instance_ids[0]), "the final sweep remediated it once the flap ended"
