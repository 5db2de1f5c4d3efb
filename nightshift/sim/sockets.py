"""An instance's TCP sockets, and the ``ss`` filter that counts them, as a real host would answer.

A real host holds far more established connections than the load balancer's: the SSM Agent and the
CloudWatch agent keep outbound HTTPS connections to their endpoints, an operator's SSH session stays
open, the app keeps a database pool, and a local reverse proxy or sidecar talks to the app over
loopback on the service port. None of them ever ends, so a host-wide count (the CloudWatch agent's
``netstat_tcp_established``) never reaches 0. The load balancer's own connections arrive on the port
each target is registered on, from the load balancer's addresses in the VPC ("If you specified a port
override when you registered a target, you must specify both the target ID and the port when you
deregister it": https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeregisterTargets.html;
a deregistering target with "no in-flight requests and no active connections" is done at once:
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).

The simulated Run Command does not take our word for what a script counts: ``count`` parses the
``ss`` command line it is sent (iproute2 ss(8): ``state established``/``state close-wait``, ``sport``/``dport`` with
``= :PORT``, ``src``/``dst`` with an address prefix, ``and``/``or``/``not`` and parentheses, ``-H``)
and evaluates it against the socket table, wrapped either in ``| wc -l`` or in our script's capture (which
exits 1 when ss fails: a host's ``ss`` can be made to fail), so a script with the wrong ports, or one that counts
loopback peers, reads the wrong number. Syntax and matching follow iproute2's ss(8) man page
(https://man7.org/linux/man-pages/man8/ss.8.html), including its rule that an IPv4 prefix also matches
IPv4-mapped IPv6 addresses (``[::ffff:127.0.0.1]`` on a dual-stack listener).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The load balancer's nodes, in the fleet's VPC (10.0.0.0/16).
LB_PEER = ipaddress.ip_address("10.0.255.10")
LOCAL = ipaddress.ip_address("10.0.0.20")
V4_LOOPBACK = ipaddress.ip_address("127.0.0.1")
V6_LOOPBACK = ipaddress.ip_address("::1")


@dataclass(frozen=True)
class Socket:
    """One class of established sockets (all ``count`` of them share addresses and ports)."""

    local: Address
    local_port: int
    peer: Address
    peer_port: int
    count: int
    what: str
    # The TCP state: "established", or "close-wait" once the peer has half-closed (sent its FIN after its
    # request) while this host still owes the response.
    state: str = "established"


def background(service_ports: list[int]) -> list[Socket]:
    """Connections a real instance holds whatever the load balancer does; they never end while it is up.

    The SSM Agent and the CloudWatch agent reach their endpoints over HTTPS (outbound, remote port 443,
    a local ephemeral port); an SSH session comes in on 22; a database pool goes out to 5432. The local
    proxy or sidecar connects to the app on each service port over loopback: both ends of each of those
    connections are sockets of this host, one with the service port as its local port.
    """
    endpoint = ipaddress.ip_address("52.94.0.10")  # a public AWS endpoint (outside the VPC)
    sockets = [
        Socket(LOCAL, 40112, endpoint, 443, 2, "SSM Agent to ssm/ec2messages endpoints"),
        Socket(LOCAL, 40150, endpoint, 443, 1, "CloudWatch agent to monitoring endpoint"),
        Socket(LOCAL, 22, ipaddress.ip_address("10.0.200.5"), 51000, 1, "SSH from a bastion"),
        Socket(LOCAL, 41000, ipaddress.ip_address("10.0.50.20"), 5432, 4, "database pool"),
    ]
    for port in sorted(set(service_ports)):
        sockets += [
            Socket(V4_LOOPBACK, port, V4_LOOPBACK, 45000, 2, f"app side of a local proxy on 127.0.0.1:{port}"),
            Socket(V4_LOOPBACK, 45000, V4_LOOPBACK, port, 2, f"proxy side of a local proxy to 127.0.0.1:{port}"),
            Socket(V6_LOOPBACK, port, V6_LOOPBACK, 46000, 1, f"app side of a sidecar on [::1]:{port}"),
            Socket(V6_LOOPBACK, 46000, V6_LOOPBACK, port, 1, f"sidecar side to [::1]:{port}"),
        ]
    return sockets


def load_balancer(port: int, count: int, state: str = "established") -> Socket:
    return Socket(LOCAL, port, LB_PEER, 50000 if state == "established" else 50001, count,
                  f"load balancer on :{port} ({state})", state)


class FilterError(ValueError):
    """The command is not an ss pipeline this simulator can evaluate (the invocation fails)."""


def _prefix(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not text.startswith("[") and ":" in text and "/" not in text:
        # ss reads ADDRESS[:PORT]: a bare "::1" fails ("an inet prefix is expected rather than ':'"), so an
        # IPv6 address is bracketed ([::1]) or given with a length (::1/128); a port in a prefix is not modelled
        raise FilterError(f"ss cannot parse the dst/src address {text!r}: bracket an IPv6 address")
    address, _, bits = text.partition("/")
    address = address.removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_network(f"{address}/{bits}" if bits else address, strict=False)
    except ValueError as exc:
        raise FilterError(f"not an address prefix: {text!r}") from exc


def _matches(network: ipaddress.IPv4Network | ipaddress.IPv6Network, address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None \
            and isinstance(network, ipaddress.IPv4Network):
        return address.ipv4_mapped in network  # ss: a v4 rule matches v4-mapped sockets
    return address.version == network.version and address in network


class _Parser:
    """expr := and_expr ('or' and_expr)*; and_expr := unary (['and'] unary)*; unary := ('not'|'!') unary
    | '(' expr ')' | cond; cond := ('sport'|'dport') OP ':'PORT | ('src'|'dst') PREFIX."""

    def __init__(self, tokens: list[str], socket: Socket) -> None:
        self.tokens, self.at, self.socket = tokens, 0, socket

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("ss filter ends too early")
        self.at += 1
        return token

    def expr(self) -> bool:
        value = self.and_expr()
        while self.peek() in ("or", "||"):
            self.take()
            value = self.and_expr() or value
        return value

    def and_expr(self) -> bool:
        value = self.unary()
        while self.peek() not in (None, ")", "or", "||"):
            if self.peek() in ("and", "&&"):
                self.take()
            value = self.unary() and value
        return value

    def unary(self) -> bool:
        token = self.take()
        if token in ("not", "!"):
            return not self.unary()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise FilterError("unbalanced parentheses in the ss filter")
            return value
        if token in ("sport", "dport"):
            op = self.take()
            port_text = self.take()
            if not port_text.startswith(":") or not port_text[1:].isdigit():
                raise FilterError(f"{token} needs :PORT, got {port_text!r}")
            port = int(port_text[1:])
            actual = self.socket.local_port if token == "sport" else self.socket.peer_port
            comparisons = {"=": actual == port, "==": actual == port, "eq": actual == port,
                           "!=": actual != port, "ne": actual != port, "neq": actual != port,
                           ">": actual > port, "gt": actual > port, "<": actual < port, "lt": actual < port,
                           ">=": actual >= port, "ge": actual >= port, "geq": actual >= port,
                           "<=": actual <= port, "le": actual <= port, "leq": actual <= port}
            if op not in comparisons:
                raise FilterError(f"unknown comparison {op!r} after {token}")
            return comparisons[op]
        if token in ("src", "dst"):
            network = _prefix(self.take())
            return _matches(network, self.socket.local if token == "src" else self.socket.peer)
        raise FilterError(f"unknown ss filter token {token!r}")


def _tokens(words: list[str]) -> list[str]:
    text = " ".join(words).replace("(", " ( ").replace(")", " ) ")
    return text.split()


# ss(8) STATE-FILTER: "a sequence of keywords state and exclude followed by identifier of state"; the states
# the simulated hosts have (listening sockets, TIME-WAIT and the rest are not modelled, so refused).
MODELLED_STATES = frozenset({"established", "close-wait"})
# Our script's shape (steps/aws/ssm.py connections_script): ss's output captured, a failing ss exits 1, an
# empty output is 0, otherwise wc -l counts the lines. A script's exit code is its last command's, and a
# non-zero one fails the invocation:
# https://docs.aws.amazon.com/systems-manager/latest/userguide/run-command-handle-exit-status.html
_CAPTURED = re.compile(r"""out=\$\((?P<ss>ss [^)]*(?:\([^)]*\)[^)]*)*)\) \|\| exit 1; """
                       r"""if \[ -z "\$out" \]; then echo 0; else printf '%s\\n' "\$out" \| wc -l; fi""")


def count(commands: list[str], sockets: list[Socket], ss_fails: bool = False) -> int | None:
    """What the script prints on a host holding ``sockets``, or None when the script exits non-zero (the
    invocation fails). Two shapes: ``ss ... | wc -l``, whose exit status is wc's, so a failing ss (``ss_fails``:
    it prints nothing on stdout and exits non-zero) reads 0; and our captured form (above), which exits 1."""
    if len(commands) != 1:
        raise FilterError("expected one command line")
    captured = _CAPTURED.fullmatch(commands[0].strip())
    if captured is not None:
        lines = _ss_lines(captured.group("ss"), sockets)
        return None if ss_fails else lines
    pipeline = [part.strip() for part in commands[0].split("|")]
    if len(pipeline) != 2 or pipeline[1] != "wc -l":
        raise FilterError("expected 'ss ... | wc -l' or our captured form (steps/aws/ssm.py)")
    lines = _ss_lines(pipeline[0], sockets)
    return 0 if ss_fails else lines


def _ss_lines(command: str, sockets: list[Socket]) -> int:
    """The lines ``ss`` prints for ``command`` (header included without -H)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise FilterError(f"cannot split the ss command: {exc}") from exc
    if not words or words[0] != "ss":
        raise FilterError("the command does not run ss")
    flags = ""
    rest: list[str] = []
    for word in words[1:]:
        if word.startswith("-") and not rest:
            flags += word[1:]
        else:
            rest.append(word)
    if "t" not in flags:
        raise FilterError("without -t ss lists other socket types too: not modelled")
    header = 0 if "H" in flags else 1  # ss prints a header line unless -H
    tokens = _tokens(rest)
    states: set[str] = set()
    while tokens[:1] == ["state"]:
        if len(tokens) < 2 or tokens[1] not in MODELLED_STATES:
            raise FilterError(f"state {tokens[1:2]}: only {sorted(MODELLED_STATES)} are modelled")
        states.add(tokens[1])
        tokens = tokens[2:]
    if not states:
        raise FilterError("expected 'state established' and/or 'state close-wait' (ss's default is not modelled)")
    total = 0
    for socket in sockets:
        parser = _Parser(tokens, socket)
        matched = parser.expr() if tokens else True
        if parser.peek() is not None:
            raise FilterError(f"unexpected {parser.peek()!r} in the ss filter")
        total += socket.count if matched and socket.state in states else 0
    return total + header
