"""Maintenance windows: "Mon-Fri 01:00-05:00", "Sat,Sun 00:00-24:00", "daily 22:00-02:00" (UTC).

A window that ends before it starts wraps past midnight into the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PATTERN = re.compile(r"^\s*(?P<days>[A-Za-z,\-]+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start_minute: int
    end_minute: int

    def contains(self, moment: datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        day = moment.weekday()
        if self.start_minute < self.end_minute:
            return day in self.days and self.start_minute <= minute < self.end_minute
        # wraps midnight: the late part belongs to the listed day, the early part to the day after
        return (day in self.days and minute >= self.start_minute) or (
            (day - 1) % 7 in self.days and minute < self.end_minute)


def _minute(text: str) -> int:
    hours, minutes = (int(p) for p in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day (00:00-24:00)")
    return hours * 60 + minutes


def _days(text: str) -> frozenset[int]:
    text = text.lower()
    if text in ("daily", "everyday", "any"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"unknown day in {part!r}; use Mon..Sun")
            a, b = DAYS.index(first), DAYS.index(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part in DAYS:
            days.add(DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r}; use Mon..Sun, ranges like Mon-Fri, or 'daily'")
    return frozenset(days)


def parse_window(text: str) -> Window:
    match = PATTERN.match(text)
    if not match:
        raise ValueError(f"maintenance window {text!r}: write it like 'Mon-Fri 01:00-05:00' (UTC)")
    window = Window(_days(match["days"]), _minute(match["start"]), _minute(match["end"]))
    if window.start_minute == window.end_minute:
        raise ValueError(f"maintenance window {text!r} is empty")
    return window


def inside_any(windows: list[str], moment: datetime) -> bool:
    return not windows or any(parse_window(w).contains(moment) for w in windows)
