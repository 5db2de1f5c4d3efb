"""Read a timeline SVG back through the data-* attributes the renderer puts on its elements."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Seg:
    state: str
    start: float
    end: float


@dataclass(frozen=True)
class Picture:
    root: ET.Element
    lanes: dict[str, list[Seg]]  # target group ARN -> segments in time order
    capacity: dict[str, list[tuple[float, int]]]  # target group ARN -> (time, healthy) steps
    markers: list[tuple[float, str]]  # (time, event) in time order


def read(svg: str) -> Picture:
    root = ET.fromstring(svg)
    lanes: dict[str, list[Seg]] = {}
    capacity: dict[str, list[tuple[float, int]]] = {}
    for group in root.iter(f"{NS}g"):
        kind = group.get("class")
        if kind == "lane":
            lanes[group.get("data-target-group", "")] = sorted(
                (Seg(r.get("data-state", ""), float(r.get("data-start", "nan")), float(r.get("data-end", "nan")))
                 for r in group.iter(f"{NS}rect") if r.get("class") == "segment"),
                key=lambda s: s.start)
        elif kind == "capacity":
            line = next(p for p in group.iter(f"{NS}path") if p.get("class") == "capacity-line")
            capacity[group.get("data-target-group", "")] = [
                (float(t), int(h)) for t, h in (step.split(":") for step in line.get("data-steps", "").split())]
    markers = sorted((float(g.get("data-time", "nan")), g.get("data-event", ""))
                     for g in root.iter(f"{NS}g") if g.get("class") == "marker")
    return Picture(root, lanes, capacity, markers)


def first(segments: list[Seg], state: str, after: float = float("-inf")) -> Seg | None:
    return next((s for s in segments if s.state == state and s.start >= after), None)
