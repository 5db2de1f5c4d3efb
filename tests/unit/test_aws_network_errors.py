"""A network error on a call that also reads special error codes is still AwsUnavailable (the state machine
retries that), and the special codes still mean what they mean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from steps.aws import clients, executions, ssm, stepfunctions
from steps.core.exceptions import AgentNotOnline, AwsCallFailed, AwsUnavailable

NETWORK_ERRORS: list[Callable[[], Exception]] = [
    lambda: ReadTimeoutError(endpoint_url="https://ssm.us-east-1.amazonaws.com/"),
    lambda: EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com/"),
]
SFN = "arn:aws:states:us-east-1:123456789012:stateMachine:remediate"


class Raising:
    """A client whose every call raises the given error."""

    def __init__(self, make_error: Callable[[], Exception]) -> None:
        self.make_error = make_error

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(**_: Any) -> Any:
            raise self.make_error()
        return call


def client_error(code: str) -> Callable[[], Exception]:
    return lambda: ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


Use = Callable[[str, Any], None]


@pytest.fixture
def use() -> Iterator[Use]:
    """``use(service, fake)``: the ports' calls from now on go to ``fake`` (a client of that service alone)."""
    with ExitStack() as stack:
        def bind(service: str, fake: Any) -> None:
            stack.enter_context(clients.bound(clients.Aws({service: fake}.__getitem__)))
        yield bind


CALLS: dict[str, tuple[str, Callable[[], object]]] = {
    "SendCommand": ("ssm", lambda: ssm.send("i-1", ssm.CONNECTIONS, ["true"])),
    "GetCommandInvocation": ("ssm", lambda: ssm.invocation("c-1", "i-1")),
    "DescribeExecution": ("stepfunctions", lambda: stepfunctions.execution_status(SFN + ":x")),
    "StartExecution": ("stepfunctions", lambda: executions.start(SFN, "x", {})),
}


@pytest.mark.parametrize("make_error", NETWORK_ERRORS, ids=["read-timeout", "endpoint-unreachable"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_network_error_is_aws_unavailable(call: str, make_error: Callable[[], Exception], use: Use) -> None:
    service, run = CALLS[call]
    use(service, Raising(make_error))
    if call == "StartExecution":  # start looks the name up first: let that say GONE, then fail the start
        use(service, StartFails(make_error))
    with pytest.raises(AwsUnavailable, match=call):
        run()


class StartFails(Raising):
    def describe_execution(self, **_: Any) -> Any:
        raise client_error("ExecutionDoesNotExist")()


def test_the_special_codes_keep_their_meaning(use: Use) -> None:
    use("ssm", Raising(client_error("InvalidInstanceId")))
    with pytest.raises(AgentNotOnline):
        ssm.send("i-1", ssm.CONNECTIONS, ["true"])
    assert ssm.send_if_online("i-1", ssm.CONNECTIONS, ["true"]) is None
    use("ssm", Raising(client_error("InvocationDoesNotExist")))
    assert ssm.invocation("c-1", "i-1") == ssm.Invocation("Pending", "")
    use("ssm", Raising(client_error("AccessDeniedException")))
    with pytest.raises(AwsCallFailed, match="AccessDeniedException"):
        ssm.invocation("c-1", "i-1")
    use("stepfunctions", Raising(client_error("ExecutionDoesNotExist")))
    assert stepfunctions.execution_status(SFN + ":x") == "GONE"
    use("stepfunctions", StartFails(client_error("ExecutionAlreadyExists")))
    assert executions.start(SFN, "x", {}) == (executions.execution_arn(SFN, "x"), False)
