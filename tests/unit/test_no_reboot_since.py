"""``steps.domain.boot.no_reboot_since``: when the instance itself proves no reboot was ever queued (the Choice
that lets the reboot step send it again). A hand table, both sides of every condition, the 600 s boundary."""

from __future__ import annotations

import pytest

from steps.domain.boot import REBOOT_SETTLED_SECONDS, no_reboot_since

REQUESTED = 1_000.0


def test_the_settled_time_is_ten_minutes() -> None:
    assert REBOOT_SETTLED_SECONDS == 600


@pytest.mark.parametrize(("command_sent_at", "boot_time", "proven"), [
    (1_600.0, 900, True),     # read exactly 600 s after the request, booted before it: no reboot happened
    (5_000.0, 0, True),       # read long after, booted long before
    (1_600.0, 1_000, True),   # booted in the request's own second: not newer, still no reboot
    (1_599.0, 900, False),    # read 1 s too early: an accepted reboot may not have taken the kernel down yet
    (1_000.0, 900, False),    # read at the request itself
    (500.0, 900, False),      # read before the request
    (1_600.0, 1_001, False),  # booted after the request: the reboot may have happened
    (5_000.0, 1_001, False),
    (1_599.0, 1_001, False),
    (None, 900, False),       # no command sent: nothing read
    (1_600.0, None, False),   # no boot time read
    (None, None, False),
])
def test_no_reboot_is_proven_only_by_an_old_boot_time_read_late_enough(command_sent_at: float | None,
                                                                       boot_time: int | None, proven: bool) -> None:
    assert no_reboot_since(REQUESTED, command_sent_at, boot_time) is proven
