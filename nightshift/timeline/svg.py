"""Draw a ``TimelineModel`` as one standalone SVG: no script, no external fonts or CSS.

Elements carry ``data-*`` attributes (states, relative times, capacity steps) so tests and tools can
read the picture back without pixel comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from nightshift.timeline.model import (
    LANE_STATES,
    SOURCE_SIMULATOR,
    STATE_LABELS,
    CapacitySeries,
    Lane,
    Marker,
    TimelineModel,
)

WIDTH = 1200
PLOT_LEFT = 190
PLOT_RIGHT = WIDTH - 150  # room on the right for the capacity labels and late marker labels
FONT = "sans-serif"
MONO = "monospace"
LANE_HEIGHT = 30
LANE_GAP = 10
STRIP_HEIGHT = 64
STRIP_GAP = 26
ROW_HEIGHT = 16
TIMES = "\u00d7"

FILL = {
    "in_service": "#a6dba0",
    "draining": "#fdb863",
    "rebooting": "#8073ac",
    "out_of_service": "#bababa",
    "initial": "#92c5de",
    "healthy": "#1b7837",
    "unhealthy": "#d7191c",
}
INK = {"rebooting": "#ffffff", "healthy": "#ffffff", "unhealthy": "#ffffff"}
MARKER_INK = {
    "DEREGISTERED": "#b35806", "DRAINED": "#b35806", "REBOOT_REQUESTED": "#542788", "BOOT_TIME": "#542788",
    "REBOOTED": "#542788", "REGISTERED": "#2166ac", "HEALTHY": "#1b7837", "RESTORED": "#d7191c",
    "FAILED": "#d7191c", "BOOT_TIMED_OUT": "#d7191c", "HEALTH_TIMED_OUT": "#d7191c",
}
CAPACITY_INK = "#2166ac"
REQUIRED_INK = "#d7191c"


def text_width(text: str, size: float) -> float:
    """A generous estimate: the picture must not depend on which sans-serif font the viewer has."""
    return len(text) * size * 0.58


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _rel(value: float) -> str:
    return f"{value:.3f}"


def _text(x: float, y: float, content: str, size: float = 12, anchor: str = "start", fill: str = "#222",
          weight: str = "normal", family: str = FONT, extra: str = "") -> str:
    return (f'<text x="{_num(round(x, 1))}" y="{_num(round(y, 1))}" font-family="{family}" font-size="{_num(size)}" '
            f'fill="{fill}" text-anchor="{anchor}" font-weight="{weight}"{extra}>{escape(content)}</text>')


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600):
        if span / step <= 12:
            return step
    return 43200


def _tick_label(seconds: float, span: float) -> str:
    if span < 180:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


# The picture starts a little before the execution and runs a little past its end, continuing the first
# and last states lightly, so the state the instance started or ended in is visible and not a sliver.
HEAD_FRACTION = 0.04
TAIL_FRACTION = 0.07


class _Scale:
    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end
        duration = max(end - start, 1.0)
        self.view_start = start - duration * HEAD_FRACTION
        self.view_span = duration * (1 + HEAD_FRACTION + TAIL_FRACTION)
        self.span = duration

    def x(self, at: float) -> float:
        offset = min(max(at - self.view_start, 0.0), self.view_span)
        return PLOT_LEFT + offset / self.view_span * (PLOT_RIGHT - PLOT_LEFT)


def _legend(y: float, model: TimelineModel) -> tuple[list[str], float]:
    parts = [f'<g class="legend" transform="translate(0,{_num(y)})">']
    x = 20.0
    for state in LANE_STATES:
        label = STATE_LABELS[state]
        parts.append(f'<rect x="{_num(x)}" y="0" width="14" height="14" fill="{FILL[state]}" stroke="#555" '
                     f'stroke-width="0.5" data-legend-state="{state}"/>')
        parts.append(_text(x + 19, 11.5, label, 11))
        x += 19 + text_width(label, 11) + 14
    parts.append(f'<line x1="{_num(x)}" y1="7" x2="{_num(x + 22)}" y2="7" stroke="{CAPACITY_INK}" stroke-width="2"/>')
    label = "healthy targets" + (" (dashed: reconstructed)" if model.source != SOURCE_SIMULATOR else "")
    parts.append(_text(x + 27, 11.5, label, 11))
    x += 27 + text_width(label, 11) + 14
    parts.append(f'<line x1="{_num(x)}" y1="7" x2="{_num(x + 22)}" y2="7" stroke="{REQUIRED_INK}" '
                 f'stroke-width="1.2" stroke-dasharray="2 3"/>')
    parts.append(_text(x + 27, 11.5, "minimum required", 11))
    parts.append("</g>")
    return parts, y + 22


def _place_labels(markers: Sequence[Marker], scale: _Scale) -> list[tuple[Marker, int, float, str]]:
    """(marker, row, x of the text, anchor): greedy rows so that no two labels overlap."""
    rows: list[list[tuple[float, float]]] = []
    placed = []
    for marker in sorted(markers, key=lambda m: m.time):
        x = scale.x(marker.time)
        text = _marker_text(marker, scale)
        width = text_width(text, 11) + 6
        left, right, anchor, tx = x - 1, x + width, "start", x + 3
        if right > WIDTH - 8:
            left, right, anchor, tx = x - width, x + 1, "end", x - 3
        for row, taken in enumerate(rows):
            if all(right + 6 < a or left - 6 > b for a, b in taken):
                taken.append((left, right))
                placed.append((marker, row, tx, anchor))
                break
        else:
            rows.append([(left, right)])
            placed.append((marker, len(rows) - 1, tx, anchor))
    return placed


def _marker_text(marker: Marker, scale: _Scale) -> str:
    offset = marker.time - scale.start
    when = f"{offset:.0f} s" if scale.span < 180 else _tick_label(offset, scale.span)
    return f"{marker.label} (+{when})"


def _lane(lane: Lane, y: float, scale: _Scale) -> list[str]:
    parts = [f'<g class="lane" data-target-group={quoteattr(lane.target_group)} data-label={quoteattr(lane.label)}>',
             _text(PLOT_LEFT - 10, y + LANE_HEIGHT / 2 + 4, lane.label, 12, "end", weight="bold"),
             f'<rect x="{PLOT_LEFT}" y="{_num(y)}" width="{PLOT_RIGHT - PLOT_LEFT}" height="{LANE_HEIGHT}" '
             f'fill="#f4f4f4" stroke="#ccc" stroke-width="0.5"/>']
    for segment in lane.segments:
        x0, x1 = scale.x(segment.start), scale.x(segment.end)
        width = max(x1 - x0, 0.8)
        label = STATE_LABELS.get(segment.state, segment.state)
        duration = _duration(segment.end - segment.start)
        dash = "" if segment.exact else ' stroke-dasharray="3 2"'
        tooltip = (f"{lane.label}: {label} for {duration} (+{segment.start - scale.start:.1f} s to "
                   f"+{segment.end - scale.start:.1f} s)")
        parts.append(
            f'<rect class="segment" x="{_num(round(x0, 2))}" y="{_num(y)}" width="{_num(round(width, 2))}" '
            f'height="{LANE_HEIGHT}" fill="{FILL.get(segment.state, "#999")}" stroke="#333" stroke-width="0.6"{dash} '
            f'data-state="{segment.state}" data-start="{_rel(segment.start - scale.start)}" '
            f'data-end="{_rel(segment.end - scale.start)}" data-exact="{str(segment.exact).lower()}">'
            f'<title>{escape(tooltip)}</title></rect>')
        for text in (f"{label} {duration}", label):
            if text_width(text, 11) + 4 <= width:
                parts.append(_text((x0 + x1) / 2, y + LANE_HEIGHT / 2 + 4, text, 11, "middle",
                                   INK.get(segment.state, "#222")))
                break
    if lane.segments:
        first = lane.segments[0]
        parts.append(f'<rect class="continuation" x="{PLOT_LEFT}" y="{_num(y)}" '
                     f'width="{_num(round(scale.x(first.start) - PLOT_LEFT, 2))}" height="{LANE_HEIGHT}" '
                     f'fill="{FILL.get(first.state, "#999")}" opacity="0.45" data-state="{first.state}">'
                     f'<title>as it stood when the execution started</title></rect>')
        last = lane.segments[-1]
        x0, x1 = scale.x(last.end), PLOT_RIGHT
        parts.append(f'<rect class="continuation" x="{_num(round(x0, 2))}" y="{_num(y)}" '
                     f'width="{_num(round(x1 - x0, 2))}" height="{LANE_HEIGHT}" '
                     f'fill="{FILL.get(last.state, "#999")}" opacity="0.45" data-state="{last.state}">'
                     f"<title>as it stood when the execution ended</title></rect>")
    parts.append("</g>")
    return parts


def _capacity(series: CapacitySeries, y: float, scale: _Scale, end: float) -> list[str]:
    values = [s.healthy for s in series.steps] + ([series.required] if series.required is not None else [])
    low, high = max(0, min(values) - 1), max(values) + 1
    step = max(1, math.ceil((high - low) / 4))

    def vy(value: float) -> float:
        return y + STRIP_HEIGHT - (value - low) / (high - low) * STRIP_HEIGHT

    steps_attr = " ".join(f"{_rel(s.time - scale.start)}:{s.healthy}" for s in series.steps)
    parts = [f'<g class="capacity" data-target-group={quoteattr(series.target_group)} '
             f'data-required="{series.required if series.required is not None else ""}">',
             _text(PLOT_LEFT - 26, y + STRIP_HEIGHT / 2, series.label, 12, "end", weight="bold"),
             _text(PLOT_LEFT - 26, y + STRIP_HEIGHT / 2 + 14, "healthy targets", 10, "end", "#555"),
             f'<rect x="{PLOT_LEFT}" y="{_num(y)}" width="{PLOT_RIGHT - PLOT_LEFT}" height="{STRIP_HEIGHT}" '
             f'fill="#fbfbfb" stroke="#ccc" stroke-width="0.5"/>']
    for value in range(low, high + 1, step):
        parts.append(f'<line x1="{PLOT_LEFT}" y1="{_num(round(vy(value), 1))}" x2="{PLOT_RIGHT}" '
                     f'y2="{_num(round(vy(value), 1))}" stroke="#e3e3e3" stroke-width="0.6"/>')
        parts.append(_text(PLOT_LEFT - 4, vy(value) + 3.5, str(value), 9, "end", "#777"))
    if series.required is not None:
        ry = vy(series.required)
        parts.append(f'<line class="required" x1="{PLOT_LEFT}" y1="{_num(round(ry, 1))}" x2="{PLOT_RIGHT}" '
                     f'y2="{_num(round(ry, 1))}" stroke="{REQUIRED_INK}" stroke-width="1.2" stroke-dasharray="2 3"/>')
        parts.append(_text(PLOT_RIGHT + 6, ry + 4, f"minimum {series.required}", 10, fill=REQUIRED_INK))
    # One path per step: exact steps solid, reconstructed ones dashed; the value is written on each run
    # wide enough to hold it (the last run also has the continuation past the end).
    previous_y: float | None = None
    for index, current in enumerate(series.steps):
        last_run = index + 1 == len(series.steps)
        until = end if last_run else series.steps[index + 1].time
        x0, x1, cy = scale.x(current.time), scale.x(until), vy(current.healthy)
        d = f"M{_num(round(x0, 2))},{_num(round(previous_y if previous_y is not None else cy, 2))}"
        d += f" L{_num(round(x0, 2))},{_num(round(cy, 2))} L{_num(round(x1, 2))},{_num(round(cy, 2))}"
        dash = "" if current.exact else ' stroke-dasharray="5 3"'
        parts.append(f'<path d="{d}" fill="none" stroke="{CAPACITY_INK}" stroke-width="2"{dash}/>')
        room = (PLOT_RIGHT if last_run else x1) - x0
        # The first value is written on the continuation before the start; later ones where they change.
        if previous_y is not None and previous_y != cy and room >= text_width(str(current.healthy), 10) + 8:
            parts.append(_text(x0 + 3, cy - 4, str(current.healthy), 10, fill=CAPACITY_INK, weight="bold"))
        previous_y = cy
    if series.steps:
        cy = vy(series.steps[0].healthy)
        parts.append(f'<path d="M{PLOT_LEFT},{_num(round(cy, 2))} L{_num(round(scale.x(series.steps[0].time), 2))},'
                     f'{_num(round(cy, 2))}" fill="none" stroke="{CAPACITY_INK}" stroke-width="2" opacity="0.4"/>')
        parts.append(_text(PLOT_LEFT + 3, cy - 4, str(series.steps[0].healthy), 10, fill=CAPACITY_INK, weight="bold"))
    if series.steps:
        cy = vy(series.steps[-1].healthy)
        parts.append(f'<path d="M{_num(round(scale.x(end), 2))},{_num(round(cy, 2))} '
                     f'L{PLOT_RIGHT},{_num(round(cy, 2))}" fill="none" stroke="{CAPACITY_INK}" stroke-width="2" '
                     f'opacity="0.4"/>')
    parts.append(f'<path class="capacity-line" d="M0,0" fill="none" stroke="none" data-steps="{steps_attr}"/>')
    last = series.steps[-1].healthy if series.steps else 0
    parts.append(_text(PLOT_RIGHT + 6, vy(last) + 4, f"{last} healthy", 10, fill=CAPACITY_INK))
    parts.append("</g>")
    return parts


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def _header(model: TimelineModel, started: str) -> list[str]:
    name = model.execution_arn.rsplit(":", 1)[-1] if model.execution_arn else ""
    source = ("exact, from the fleet simulator" if model.source == SOURCE_SIMULATOR
              else "reconstructed from the audit trail and the execution history")
    subtitle = " \u00b7 ".join(p for p in (f"execution {name}" if name else "", model.status, f"started {started}",
                                            _duration(model.end - model.start), source) if p)
    return [_text(20, 30, model.title, 19, weight="bold"), _text(20, 50, subtitle, 12, fill="#444")]


def _waits(model: TimelineModel, y: float, scale: _Scale) -> list[str]:
    parts = [_text(PLOT_LEFT - 10, y + 11, "workflow waits", 11, "end", "#555")]
    for wait in model.waits:
        x0, x1 = scale.x(wait.start), scale.x(wait.end)
        text = f"{wait.name} {TIMES}{wait.visits}" if wait.visits > 1 else wait.name
        parts.append(f'<rect class="wait" x="{_num(round(x0, 2))}" y="{_num(y)}" '
                     f'width="{_num(round(max(x1 - x0, 0.8), 2))}" height="15" fill="#e8e8f0" stroke="#9a9ab0" '
                     f'stroke-width="0.6" data-name={quoteattr(wait.name)} data-visits="{wait.visits}" '
                     f'data-start="{_rel(wait.start - model.start)}" data-end="{_rel(wait.end - model.start)}">'
                     f'<title>{escape(f"{text}: {_duration(wait.end - wait.start)}")}</title></rect>')
        if text_width(text, 10) + 6 <= x1 - x0:
            parts.append(_text((x0 + x1) / 2, y + 11, text, 10, "middle", "#333"))
    return parts


def _bands(model: TimelineModel, top: float, bottom: float, scale: _Scale) -> list[str]:
    """Shade what lies before the start and after the end: only the first and last states continued."""
    parts = []
    for kind, x0, x1 in (("before-start", PLOT_LEFT, scale.x(model.start)),
                         ("after-end", scale.x(model.end), PLOT_RIGHT)):
        parts.append(f'<rect class="{kind}" x="{_num(round(x0, 2))}" y="{_num(top)}" '
                     f'width="{_num(round(x1 - x0, 2))}" height="{_num(bottom - top)}" fill="#000000" opacity="0.05"/>')
        edge = x1 if kind == "before-start" else x0
        parts.append(f'<line x1="{_num(round(edge, 2))}" y1="{_num(top)}" x2="{_num(round(edge, 2))}" '
                     f'y2="{_num(bottom)}" stroke="#555" stroke-width="1.2"/>')
    later = "still running" if model.status == "RUNNING" else "after the end"
    parts.append(_text(scale.x(model.end) + 4, top + 12, later, 9, fill="#666"))
    return parts


def _markers(placed: list[tuple[Marker, int, float, str]], labels_top: float, bottom: float, scale: _Scale,
             ) -> list[str]:
    """A dashed line over the lanes and strips per marker, its label in its row above them."""
    parts = []
    for marker, row, tx, anchor in placed:
        x = round(scale.x(marker.time), 2)
        ink = MARKER_INK.get(marker.event, "#444")
        row_y = labels_top + row * ROW_HEIGHT
        text = _marker_text(marker, scale)
        width = text_width(text, 11)
        bx = tx if anchor == "start" else tx - width
        tooltip = f"{marker.label}: {marker.detail}" if marker.detail else marker.label
        parts.append(
            f'<g class="marker" data-event="{escape(marker.event)}" data-time="{_rel(marker.time - scale.start)}">'
            f"<title>{escape(tooltip)}</title>"
            f'<line x1="{_num(x)}" y1="{_num(row_y + 3)}" x2="{_num(x)}" y2="{_num(bottom)}" '
            f'stroke="{ink}" stroke-width="1" stroke-dasharray="4 3" opacity="0.85"/>'
            f'<rect x="{_num(round(bx - 2, 1))}" y="{_num(row_y - 9)}" width="{_num(round(width + 4, 1))}" '
            f'height="13" fill="#ffffff" opacity="0.9"/>'
            + _text(tx, row_y + 1, text, 11, anchor, ink) + "</g>")
    return parts


def _axis(model: TimelineModel, y: float, scale: _Scale, started: str) -> list[str]:
    parts = [f'<line x1="{PLOT_LEFT}" y1="{_num(y)}" x2="{PLOT_RIGHT}" y2="{_num(y)}" stroke="#555"/>']
    tick = _tick_step(scale.span)
    at = 0.0
    while model.start + at <= scale.view_start + scale.view_span + 1e-6:
        x = round(scale.x(model.start + at), 2)
        parts.append(f'<line x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x)}" y2="{_num(y + 5)}" stroke="#555"/>')
        parts.append(_text(x, y + 17, _tick_label(at, scale.span), 10, "middle", "#444"))
        at += tick
    parts.append(_text((PLOT_LEFT + PLOT_RIGHT) / 2, y + 33, f"time since the execution started ({started})", 11,
                       "middle", "#444"))
    return parts


def render_timeline(model: TimelineModel) -> str:
    """The picture as SVG text."""
    scale = _Scale(model.start, model.end)
    started = datetime.fromtimestamp(model.start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = _header(model, started)
    legend, y = _legend(62, model)
    body.extend(legend)
    placed = _place_labels(model.markers, scale)
    labels_top = y + 10
    y = labels_top + (1 + max((row for _, row, _, _ in placed), default=-1)) * ROW_HEIGHT + 6
    band_top = y - 4
    if model.waits:
        body.extend(_waits(model, y, scale))
        y += 15 + LANE_GAP
    if not model.lanes:
        body.append(_text(PLOT_LEFT, y + 20, "No instance left service in this execution.", 13, fill="#444"))
        y += 40
    for lane in model.lanes:
        body.extend(_lane(lane, y, scale))
        y += LANE_HEIGHT + LANE_GAP
    y += 8 if model.capacity else 0
    for series in model.capacity:
        body.extend(_capacity(series, y + 8, scale, model.end))
        y += STRIP_HEIGHT + STRIP_GAP
    bottom = y - 8
    body.extend(_bands(model, band_top, bottom, scale))
    body.extend(_markers(placed, labels_top, bottom, scale))  # after the lanes: lines and labels on top
    body.extend(_axis(model, bottom + 4, scale, started))
    y = bottom + 56
    for note in model.notes:
        for line in _wrap(note, 175):
            body.append(_text(20, y, line, 10.5, fill="#555"))
            y += 14
        y += 3
    height = int(y + 10)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" data-source="{model.source}" '
            f'data-instance={quoteattr(model.instance_id or "")} data-execution={quoteattr(model.execution_arn)} '
            f'data-start="{model.start:.3f}" data-end="{model.end:.3f}">')
    title = f"<title>{escape(model.title)}</title>"
    background = f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>'
    return "\n".join([head, title, background, *body, "</svg>"]) + "\n"
