"""Is an Auto Scaling replacement of the instance under way? Pure, from DescribeAutoScalingInstances' view.

SetInstanceHealth Unhealthy makes the group terminate the instance and launch another; once the call was
accepted, the group reports the instance ``UNHEALTHY``, then ``Terminating``/``Terminated``, then not at
all. Before the call, a healthy ``InService`` (or ``Standby``) member proves nothing was marked.
"""

from __future__ import annotations

from typing import Protocol


class Member(Protocol):
    @property
    def lifecycle_state(self) -> str: ...

    @property
    def health_status(self) -> str: ...


def mark_in_effect(member: Member | None, mark_intended: bool) -> bool:
    """Whether a SetInstanceHealth Unhealthy for this instance was accepted, judged from what the ASG says.

    ``mark_intended``: we were about to send it (written ahead). Without that, an unhealthy or terminating
    member was not marked by us, and a missing one was never in a group: neither counts.
    """
    if not mark_intended:
        return False
    if member is None:
        return True  # terminated and gone: it was replaced
    return member.health_status.upper() == "UNHEALTHY" or member.lifecycle_state.startswith("Terminat")
