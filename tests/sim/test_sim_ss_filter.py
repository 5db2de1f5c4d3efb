"""The simulated Run Command evaluates the ss filter it is sent: a wrong script reads a wrong count."""

from __future__ import annotations

import ipaddress

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from nightshift.sim.sockets import FilterError, Socket, background, count, load_balancer
from steps.aws.ssm import connections_script
from tests.harness import MakeWorld

OURS = "ss -Htn state established '( sport = :443 or sport = :8080 ) and not ( dst 127.0.0.0/8 or dst [::1] )' | wc -l"


def test_the_background_of_a_host_never_counts_for_our_filter_but_does_for_naive_ones() -> None:
    # GIVEN a host with no load balancer traffic: agents, SSH, a DB pool, loopback on its service ports
    table = background([443, 8080])
    # THEN our filter reads 0, and hand-counted naive filters read what a real ss would
    assert count([OURS], table) == 0
    # the loopback app side on 443 and 8080: 2 (127.0.0.1) + 1 (::1) each
    assert count(["ss -Htn state established '( sport = :443 or sport = :8080 )' | wc -l"], table) == 6
    # everything established: 2 SSM + 1 CloudWatch + 1 SSH + 4 DB + 6 loopback sockets per port x 2
    assert count(["ss -Htn state established | wc -l"], table) == 20
    # counting by remote port 443 catches the agents' outbound HTTPS (and the proxy side on 443)
    assert count(["ss -Htn state established '( dport = :443 )' | wc -l"], table) == 2 + 1 + 2 + 1
    # without -H, ss prints a header line that wc -l counts
    assert count(["ss -tn state established '( sport = :22 )' | wc -l"], table) == 1 + 1


def test_load_balancer_connections_count_on_their_port_only() -> None:
    table = [load_balancer(8080, 7), *background([443, 8080])]
    assert count([OURS], table) == 7
    static = ("ss -Htn state established '( sport = :443 or sport = :80 ) and not ( dst 127.0.0.0/8 or dst [::1] )'"
              " | wc -l")
    assert count([static], table) == 0  # the old static port list reads 0 while 7 requests are in flight


def test_an_ipv4_prefix_matches_ipv4_mapped_peers_as_ss_does() -> None:
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    table = [Socket(mapped, 8080, mapped, 40000, 3, "dual-stack loopback"),
             Socket(ipaddress.ip_address("::ffff:10.0.255.10"), 8080, ipaddress.ip_address("::ffff:10.0.255.10"),
                    40001, 2, "dual-stack load balancer")]
    assert count([OURS], table) == 2


@pytest.mark.parametrize("command", [
    "true",
    "ss -Htn state established '( sport = :443 ' | wc -l",
    "ss -Htn state listening | wc -l",
    "ss -Hn state established | wc -l",
    "ss -Htn state established '( sport = 443 )' | wc -l",
    "ss -Htn state established '( sport = :443 )'",
    "ss -Htn state established dst ::1 | wc -l",
])
def test_what_the_simulator_cannot_evaluate_is_refused(command: str) -> None:
    with pytest.raises(FilterError):
        count([command], background([443]))


def _send(world: object, instance_id: str, command: str) -> str:
    response = world.ssm.send_command(  # type: ignore[attr-defined]
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Comment="nightshift:connections",
        Parameters={"commands": [command]})
    return str(response["Command"]["CommandId"])


def test_run_command_runs_the_filter_it_was_sent(make_world: MakeWorld) -> None:
    # GIVEN the default fleet: HTTPS targets on 443, HTTP targets on 8080, 20 load balancer connections each
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, connections=20)}))
    target = world.instance(5)
    ours = _send(world, target, OURS)
    naive = _send(world, target, "ss -Htn state established '( sport = :443 or sport = :8080 )' | wc -l")
    static = _send(world, target, "ss -Htn state established '( sport = :443 or sport = :80 ) and not "
                                  "( dst 127.0.0.0/8 or dst [::1] )' | wc -l")
    garbage = _send(world, target, "netstat -tn | grep -c ESTABLISHED")
    world.advance(world.sim.spec.command_run_seconds)
    outputs = {name: world.invocation(command_id, target) for name, command_id in
               (("ours", ours), ("naive", naive), ("static", static), ("garbage", garbage))}
    # THEN each reads what its own filter selects: ours the 20 load balancer connections (10 per group), the
    # naive one adds the 6 loopback sockets on the service ports, the static one misses the 8080 group
    assert outputs["ours"]["StandardOutputContent"] == "20\n"
    assert outputs["naive"]["StandardOutputContent"] == "26\n"
    assert outputs["static"]["StandardOutputContent"] == "10\n"
    # AND a command the simulator cannot evaluate fails instead of inventing a number
    assert outputs["garbage"]["Status"] == "Failed"


SCRIPT = connections_script([443, 8080])


def test_our_script_reads_what_its_filter_selects_established_and_close_wait() -> None:
    # GIVEN 3 load balancer connections on 443 still established and 2 on 8080 half-closed by their clients
    table = [load_balancer(443, 3), load_balancer(8080, 2, "close-wait"), *background([443, 8080])]
    # THEN our script counts all 5, a filter on 'state established' only the 3
    assert count(SCRIPT, table) == 5
    assert count([OURS], table) == 3
    assert count(["ss -Htn state close-wait '( sport = :8080 )' | wc -l"], table) == 2
    # AND on a host with only its background our script reads 0
    assert count(SCRIPT, background([443, 8080])) == 0


def test_a_failing_ss_fails_our_script_but_reads_0_through_a_bare_pipe() -> None:
    table = [load_balancer(443, 3), *background([443, 8080])]
    assert count(SCRIPT, table, ss_fails=True) is None  # exit 1: the invocation fails
    assert count([OURS], table, ss_fails=True) == 0  # wc's exit status: Success, "0"


@pytest.mark.parametrize("command", [
    "ss -Htn state listening state established | wc -l",
    "ss -Htn exclude established | wc -l",
    "out=$(ss -Htn state established) || exit 1; echo \"$out\" | wc -l",
])
def test_other_states_and_script_shapes_are_refused(command: str) -> None:
    with pytest.raises(FilterError):
        count([command], background([443]))


def test_run_command_fails_our_script_on_a_host_whose_ss_fails(make_world: MakeWorld) -> None:
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, ss_fails=True)}))
    target = world.instance(5)
    ours = _send(world, target, SCRIPT[0])
    bare = _send(world, target, OURS)
    world.advance(world.sim.spec.command_run_seconds)
    assert world.invocation(ours, target)["Status"] == "Failed"
    bare_result = world.invocation(bare, target)
    assert (bare_result["Status"], bare_result["StandardOutputContent"]) == ("Success", "0\n")
