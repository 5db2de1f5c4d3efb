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

    def minutes_per_day(self) -> int:
        if self.start_minute < self.end_minute:
            return self.end_minute - self.start_minute
        return max(0, 1440 - self.start_minute) + min(self.end_minute, 1440)

    def contains(self, moment: datetime) -> bool:
        return self.contains_minute(moment.weekday(), moment.hour * 60 + moment.minute)

    def contains_minute(self, day: int, minute: int) -> bool:
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
        raise ValueError(f"maintenance window {text!r} is empty (it starts when it ends)")
    if window.minutes_per_day() == 0:
        # e.g. "daily 24:00-00:00": it wraps past midnight, but there is no minute between the two.
        raise ValueError(f"maintenance window {text!r} is open zero minutes; write e.g. 'daily 00:00-24:00' "
                         "for always, or 'daily 22:00-02:00' for a window past midnight")
    return window


def open_minutes_per_week(windows: list[str]) -> int:
    """How many distinct minutes of a week the windows leave open (overlaps counted once)."""
    parsed = [parse_window(w) for w in windows]
    return sum(1 for day in range(7) for minute in range(1440)
               if any(w.contains_minute(day, minute) for w in parsed))


def inside_any(windows: list[str], moment: datetime) -> bool:
    return not windows or any(parse_window(w).contains(moment) for w in windows)
