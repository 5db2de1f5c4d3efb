"""The drain settings refuse what no longer works, with the field and the fix; the ssm script counts what it should."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from steps.aws.ssm import connections_script
from steps.core.config import parse_groups
from steps.core.exceptions import ConfigurationError

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def declare(drain: dict[str, object]) -> object:
    return parse_groups({"groups": [{"name": "web", "target_group_arns": [ARN], "drain": drain}]})


def test_connections_metric_is_refused_naming_the_field_and_what_to_use() -> None:
    with pytest.raises(ConfigurationError) as refused:
        declare({"signal": "connections_metric", "poll_seconds": 10})
    message = str(refused.value)
    assert "groups.0.drain" in message and "drain.signal" in message and "connections_metric" in message
    assert "'ssm'" in message and "'target_state'" in message
    assert "netstat_tcp_established" in message  # says why, not only that


@pytest.mark.parametrize("field", ["metric_namespace", "metric_name", "metric_period_seconds", "idle_at_most"])
def test_the_removed_metric_settings_are_refused_by_name(field: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"drain\.{field}: it belonged to the removed connections_metric"):
        declare({"signal": "ssm", field: 10})


def test_static_drain_ports_are_refused_with_what_replaced_them() -> None:
    with pytest.raises(ConfigurationError, match=r"drain\.ports: .*registered on.*delete drain\.ports"):
        declare({"signal": "ssm", "ports": [443, 80]})


def test_ssm_and_target_state_still_validate() -> None:
    assert declare({"signal": "ssm"}) is not None
    assert declare({"signal": "target_state"}) is not None


def test_the_script_counts_the_given_ports_from_non_loopback_peers() -> None:
    assert connections_script([8080, 443, 8080]) == [
        "out=$(ss -Htn state established state close-wait '( sport = :443 or sport = :8080 ) and not "
        "( dst 127.0.0.0/8 or dst [::1] )') || exit 1; "
        "if [ -z \"$out\" ]; then echo 0; else printf '%s\\n' \"$out\" | wc -l; fi"]
    with pytest.raises(ValueError, match="at least one"):
        connections_script([])
    with pytest.raises(ValueError, match="not a TCP port"):
        connections_script([0])


# -- the script against the real iproute2 ss, when this machine has it ------------------------------------

def _addresses() -> list[str]:
    """This host's non-loopback IPv4 addresses (a connection to one of them has a non-loopback peer)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if "." in a and not a.startswith("127.")]


def _listener(stack: ExitStack) -> tuple[socket.socket, int]:
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    stack.callback(server.close)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack: v4 peers show as ::ffff:a.b.c.d
    server.bind(("::", 0))
    server.listen(16)
    return server, int(server.getsockname()[1])


def _connect(stack: ExitStack, server: socket.socket, address: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    client = socket.socket(family, socket.SOCK_STREAM)
    client.connect((address, port))
    stack.callback(client.close)
    accepted, _ = server.accept()
    stack.callback(accepted.close)


def _sh(script: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the script as AWS-RunShellScript does: with sh (dash on Debian/Ubuntu)."""
    assert len(script) == 1
    return subprocess.run([shutil.which("sh") or "/bin/sh", "-c", script[0]], check=False, capture_output=True,
                          text=True, timeout=10, env=env)


def _run(script: list[str]) -> int:
    done = _sh(script)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


NO_SS = shutil.which("ss") is None or shutil.which("sh") is None or not _addresses()


@pytest.mark.skipif(NO_SS, reason="needs iproute2 ss and a non-loopback address")
def test_the_script_on_a_real_host_skips_loopback_peers_and_other_ports() -> None:
    # GIVEN a dual-stack listener with two loopback peers (127.0.0.1, ::1) and one peer on this host's own
    # non-loopback address, and a second listener on another port with a non-loopback peer
    with ExitStack() as stack:
        (server, port), (other, other_port) = _listener(stack), _listener(stack)
        external = _addresses()[0]
        for address in ("127.0.0.1", "::1", external):
            _connect(stack, server, address, port)
        _connect(stack, other, external, other_port)
        # WHEN our script counts the first port
        # THEN only the non-loopback peer counts (ss matches 127.0.0.0/8 against ::ffff:127.0.0.1 too)
        assert _run(connections_script([port])) == 1
        # AND a script without the loopback exclusion would have counted all three
        assert _run([f"ss -Htn state established '( sport = :{port} )' | wc -l"]) == 3
        # AND both ports together count both non-loopback peers
        assert _run(connections_script([port, other_port])) == 2


@pytest.mark.skipif(NO_SS, reason="needs iproute2 ss and a non-loopback address")
def test_the_script_on_a_real_host_reads_0_when_nothing_is_open() -> None:
    with ExitStack() as stack:
        _, port = _listener(stack)
        done = _sh(connections_script([port]))
        assert (done.returncode, done.stdout) == (0, "0\n")


@pytest.mark.skipif(NO_SS, reason="needs iproute2 ss and a non-loopback address")
def test_the_script_on_a_real_host_counts_a_half_closed_peer_still_owed_a_response() -> None:
    # GIVEN a peer that sent its request and half-closed (shutdown SHUT_WR): our side is in CLOSE-WAIT
    with ExitStack() as stack:
        server, port = _listener(stack)
        client = socket.create_connection((_addresses()[0], port))
        stack.callback(client.close)
        accepted, _ = server.accept()
        stack.callback(accepted.close)
        client.shutdown(socket.SHUT_WR)
        assert accepted.recv(1) == b""  # the FIN arrived: the accepted socket is now CLOSE-WAIT
        # THEN our script counts it, where 'state established' alone would not
        assert _run(connections_script([port])) == 1
        assert _run([f"ss -Htn state established '( sport = :{port} )' | wc -l"]) == 0


@pytest.mark.skipif(NO_SS, reason="needs iproute2 ss and a non-loopback address")
@pytest.mark.parametrize("fake_ss", [
    "echo 'ss: unknown option -- H' >&2; exit 255",  # an iproute2 too old for -H
    "echo 'Cannot allocate memory' >&2; exit 1",  # out of memory on the leaking host
])
def test_a_failing_ss_fails_the_script_instead_of_reading_0(tmp_path: Path, fake_ss: str) -> None:
    # GIVEN an ss on PATH that fails and prints nothing on stdout
    fake = tmp_path / "ss"
    fake.write_text(f"#!/bin/sh\n{fake_ss}\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ.get('PATH', '')}"}
    # WHEN our script runs THEN it exits non-zero (Run Command reports Failed: the reading proves nothing)
    done = _sh(connections_script([8080]), env)
    assert done.returncode != 0 and done.stdout == ""
    # AND the old pipeline would have succeeded with "0", read as "nothing in flight"
    old = _sh(["ss -Htn state established '( sport = :8080 )' | wc -l"], env)
    assert (old.returncode, old.stdout.strip()) == (0, "0")


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_a_missing_ss_fails_the_script(tmp_path: Path) -> None:
    # GIVEN a PATH with wc but no ss
    (tmp_path / "wc").symlink_to(shutil.which("wc") or "/usr/bin/wc")
    done = _sh(connections_script([8080]), {"PATH": str(tmp_path)})
    assert done.returncode != 0 and done.stdout == ""
