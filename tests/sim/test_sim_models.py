"""The simulator's pure parts, without moto: specs, period alignment, outages, health phases."""

from __future__ import annotations

import pytest

from nightshift.runtime.interceptor import AwsError
from nightshift.sim import FleetSpec, InstanceSpec
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.metric_data import bucket_starts, validate_stat
from nightshift.sim.power import PowerHistory
from nightshift.sim.target_health import HEALTHY, INITIAL, UNHEALTHY, HealthCheck, Phase, health_phases

CHECK = HealthCheck(interval=10, healthy_threshold=3, unhealthy_threshold=2)


def test_the_same_seed_builds_the_same_fleet_and_overrides_do_not_shift_the_others() -> None:
    # GIVEN two specs with the same seed, one with an extra override
    plain = FleetSpec(leaking={}).instance_specs()
    with_leak = FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0)}).instance_specs()
    # WHEN their instances are compared
    # THEN only the overridden one differs, and jitter stays in the documented band
    assert [s for i, s in enumerate(plain) if i != 5] == [s for i, s in enumerate(with_leak) if i != 5]
    assert with_leak[5].leak_to_percent == 85.0
    assert all(30.0 <= s.memory_percent <= 55.0 for s in plain)


def test_a_leak_outside_the_fleet_is_refused_with_the_fix() -> None:
    # GIVEN a fleet of 3 and the default leaking index 5
    # WHEN the spec is built
    # THEN it names the problem and what to pass instead
    with pytest.raises(ValueError, match=r"outside a fleet of 3; pass leaking=\{\}"):
        FleetSpec(size=3)


def test_periods_round_down_as_the_get_metric_data_documentation_says() -> None:
    # GIVEN a query at 01:05:23 for the previous 10 s, and one at 15:07:17 for the previous 5 minutes
    day = 1_700_006_400  # 00:00:00 UTC (a multiple of 86400)
    at = day + 3600 + 5 * 60 + 23
    # WHEN their periods are laid out
    ten_second = bucket_starts(at - 10, at, 10)
    five_minute = bucket_starts(at - 300, at, 60)
    # THEN the start is rounded down to the period (below a minute) or to the minute
    assert ten_second == [day + 3600 + 5 * 60 + 10, day + 3600 + 5 * 60 + 20]
    assert five_minute[0] == day + 3600
    assert len(five_minute) == 6


@pytest.mark.parametrize("stat", ["Average", "Sum", "SampleCount", "Minimum", "Maximum", "p50", "p99.9"])
def test_supported_statistics_are_accepted(stat: str) -> None:
    validate_stat(stat)


@pytest.mark.parametrize("stat", ["Mean", "p0", "p101", "pX", ""])
def test_unknown_statistics_are_refused(stat: str) -> None:
    with pytest.raises(AwsError):
        validate_stat(stat)


def test_a_reboot_request_is_absorbed_while_one_is_under_way() -> None:
    # GIVEN an instance with a 5 s queue and a 60 s boot
    power = PowerHistory(InstanceSpec(), first_boot=0.0)
    # WHEN reboots are requested at 0, 3 (queued), 30 (booting) and 65 (up again)
    outages = [power.request_reboot(t) for t in (0.0, 3.0, 30.0, 65.0)]
    # THEN only the first and the last really reboot, and the boot time follows the resets
    assert [o.reset_at if o else None for o in outages] == [5.0, None, None, 70.0]
    assert [power.is_up(t) for t in (4.9, 5.0, 64.9, 65.0, 69.9, 70.0)] == [True, False, False, True, True, False]
    assert [power.boot_time(t) for t in (4.0, 5.0, 69.0, 70.0)] == [0.0, 5.0, 5.0, 70.0]


def test_health_phases_follow_the_thresholds() -> None:
    # GIVEN a registration at 100 and an outage from 150 to 175 (longer than 2 x 10 s)
    # WHEN its phases are computed
    phases = health_phases(100.0, float("inf"), False, [(150.0, 175.0)], CHECK)
    # THEN initial, healthy after 30 s, unhealthy 20 s into the outage, healthy 30 s after it
    assert phases == [Phase(100.0, INITIAL), Phase(130.0, HEALTHY), Phase(170.0, UNHEALTHY),
                      Phase(205.0, HEALTHY)]


def test_a_blip_shorter_than_the_unhealthy_threshold_changes_nothing() -> None:
    # GIVEN a healthy target whose instance stops answering for 15 s
    # WHEN its phases are computed
    phases = health_phases(0.0, float("inf"), True, [(50.0, 65.0)], CHECK)
    # THEN it never leaves healthy
    assert phases == [Phase(0.0, HEALTHY)]


def test_a_stop_supersedes_a_queued_reboot_and_a_start_boots_afresh() -> None:
    # GIVEN a reboot queued at 0 (it would take the OS down at 5)
    power = PowerHistory(InstanceSpec(stop_seconds=20.0, boot_seconds=60.0), first_boot=0.0)
    power.request_reboot(0.0)
    # WHEN a stop arrives at 2, before the reboot happened, and a start at 100
    assert power.request_stop(2.0)
    assert not power.request_stop(10.0)  # stopping already: a no-op
    assert power.request_start(100.0)
    # THEN the reboot never happens, the OS is down from the stop until the start has booted,
    # and the boot time is the start
    assert power.resets() == []
    assert [power.state(t) for t in (1.9, 2.0, 21.9, 22.0, 100.0, 160.0)] == [
        "running", "stopping", "stopping", "stopped", "pending", "running"]
    assert [power.is_up(t) for t in (1.9, 2.0, 159.9, 160.0)] == [True, False, False, True]
    assert [power.boot_time(t) for t in (99.0, 100.0)] == [0.0, 100.0]


def test_a_stop_ends_a_hang_without_a_reset_and_failures_stay_one_streak() -> None:
    # GIVEN an OS that hangs on the way down (hard reboot 240 s after the request)
    spec = InstanceSpec(hard_reboot_after_seconds=240.0)
    instance = SimulatedInstance(0, "i-0", "us-east-1a", "subnet-0", spec, PowerHistory(spec, first_boot=0.0))
    power = instance.power
    power.request_reboot(0.0)
    # WHEN it is stopped at 100, mid-hang
    power.request_stop(100.0)
    # THEN the hard reboot never happens, and the command agent has no moment to come back before a start
    assert power.resets() == []
    assert power.boot_time(300.0) == 0.0
    assert power.next_up(50.0) == float("inf")
    # AND health checks see one continuous failure from 5 s (the hang) on, not two
    failures, _ = instance.failures()
    assert failures == [(5.0, float("inf"))]
    assert health_phases(0.0, float("inf"), True, failures, CHECK) == [Phase(0.0, HEALTHY), Phase(25.0, UNHEALTHY)]
