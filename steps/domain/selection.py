"""Which instance is worst? Pure: given each instance's recent datapoints, pick one or say why not."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Series = Sequence[tuple[float, float]]  # (epoch seconds, value), oldest first


@dataclass(frozen=True)
class Evaluation:
    instance_id: str
    latest: float | None
    breaching: int  # datapoints above threshold among the last N
    datapoints: int  # datapoints present among the last N (missing data is not a breach)

    def is_candidate(self, needed: int) -> bool:
        return self.breaching >= needed


@dataclass(frozen=True)
class Selection:
    instance_id: str | None
    value: float | None
    breaching: int
    reason: str
    evaluated: int
    with_data: int
    candidates: int


def evaluation_window(now: float, period: int, datapoints: int, ingestion_delay: float) -> tuple[float, float]:
    """[start, end) holding exactly the last ``datapoints`` periods that are complete and readable at ``now``.

    A period's datapoint is complete only once the period has ended and its last sample has been
    ingested, ``ingestion_delay`` seconds later; a period younger than that would be read partly (or
    not at all) and count as missing or wrong. So the window ends at the end of the newest period that
    ended at least ``ingestion_delay`` ago, aligned to the period as GetMetricData aligns its periods
    (to the period below a minute; to the minute, which every multiple of 60 is, above).
    """
    end = math.floor((now - ingestion_delay) / period) * period
    return end - datapoints * period, end


def evaluate(instance_id: str, series: Series, threshold: float, last_n: int) -> Evaluation:
    window = list(series)[-last_n:]
    breaching = sum(1 for _, value in window if value > threshold)
    latest = window[-1][1] if window else None
    return Evaluation(instance_id, latest, breaching, len(window))


def _rank(e: Evaluation) -> tuple[float, int, str]:
    # Highest latest value first; ties by more breaching datapoints; then the instance id, so the
    # choice is deterministic and replays pick the same instance.
    return (-(e.latest if e.latest is not None else float("-inf")), -e.breaching, e.instance_id)


def select_worst(series: Mapping[str, Series], threshold: float, breaching_needed: int, last_n: int,
                 metric_label: str) -> Selection:
    evaluations = [evaluate(i, s, threshold, last_n) for i, s in series.items()]
    with_data = sum(1 for e in evaluations if e.datapoints)
    candidates = sorted((e for e in evaluations if e.is_candidate(breaching_needed)), key=_rank)
    if not candidates:
        highest = max((e.latest for e in evaluations if e.latest is not None), default=None)
        shown = "no data" if highest is None else f"{highest:.1f}"
        return Selection(
            None, highest, 0,
            f"no instance has {metric_label} above {threshold:g} in {breaching_needed} of the last "
            f"{last_n} datapoints (highest latest value: {shown}; {with_data} of {len(evaluations)} "
            "instances reported data)",
            len(evaluations), with_data, 0,
        )
    worst = candidates[0]
    return Selection(
        worst.instance_id, worst.latest, worst.breaching,
        f"{worst.instance_id} has {metric_label} {worst.latest:.1f} above {threshold:g} in "
        f"{worst.breaching} of the last {last_n} datapoints; worst of {len(candidates)} candidate(s)",
        len(evaluations), with_data, len(candidates),
    )


def evaluate_named(instance_id: str, series: Series, threshold: float, breaching_needed: int, last_n: int,
                   metric_label: str) -> Selection:
    """An operator or an alarm named the instance: still require the metric to breach (hysteresis)."""
    e = evaluate(instance_id, series, threshold, last_n)
    if e.is_candidate(breaching_needed):
        return Selection(instance_id, e.latest, e.breaching,
                         f"{instance_id} was named and has {metric_label} {e.latest} above {threshold:g} in "
                         f"{e.breaching} of the last {last_n} datapoints", 1, int(bool(e.datapoints)), 1)
    return Selection(None, e.latest, e.breaching,
                     f"{instance_id} was named but has {metric_label} above {threshold:g} in only "
                     f"{e.breaching} of the last {last_n} datapoints (needs {breaching_needed})",
                     1, int(bool(e.datapoints)), 0)
