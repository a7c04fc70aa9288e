"""Rate of rise (or fall): a Theil-Sen slope over the readings in `window`, in value units per hour.

The Theil-Sen estimator is the median of the slopes between every pair of points, so one spike (indeed up
to ~29 % of the points) cannot move it, unlike a first-minus-last difference or a least-squares fit.
Readings QC failed never enter the window. At most `max_points` readings, evenly picked, go into one slope
(n² pairs: 60 points are 1,770 slopes). The slope then goes through the levels state machine, so rate
alerts have the same hysteresis, pending and hold as level alerts.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from statistics import median
from typing import Any

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import TrackedRunner
from backend.rules.inventory import Inventory
from backend.rules.kinds.rate.config import RateRule
from backend.rules.quality import QcVerdict
from backend.rules.runner import iso
from pantau.contract import Reading

_HOUR = 3600.0


def theil_sen(points: list[tuple[float, float]]) -> float | None:
    """Median pairwise slope of (t, y) points (t in seconds); None with fewer than two distinct times."""
    slopes = [
        (y2 - y1) / (t2 - t1) for i, (t1, y1) in enumerate(points) for t2, y2 in points[i + 1 :] if t2 != t1
    ]
    return median(slopes) if slopes else None


def pick(points: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    """At most `most` points, evenly spread, first and last kept."""
    if len(points) <= most:
        return points
    step = (len(points) - 1) / (most - 1)
    return [points[round(i * step)] for i in range(most)]


class RateRunner(TrackedRunner):
    """`kind: rate`."""

    rule: RateRule

    def __init__(self, rule: RateRule, inventory: Inventory) -> None:
        super().__init__(rule, inventory)
        self.windows: dict[AlertSubject, deque[tuple[datetime, float]]] = {}

    def on_reading(
        self, series: AlertSubject, reading: Reading, verdict: QcVerdict, at: datetime
    ) -> list[Status]:
        if reading.value is None or not verdict.usable:
            return []
        window = self.windows.setdefault(series, deque())
        if window and at <= window[-1][0]:
            return []
        window.append((at, reading.value))
        while window and window[0][0] <= at - self.rule.window:
            window.popleft()
        if len(window) < self.rule.min_points:
            return []
        start = window[0][0]
        points = [((t - start).total_seconds(), v) for t, v in window]
        slope = theil_sen(pick(points, self.rule.max_points))
        if slope is None:
            return []
        per_hour = slope * _HOUR * (1 if self.rule.change == "rise" else -1)
        unit = f"{reading.unit}/h" if reading.unit else None
        return self.feed(series, per_hour, at, unit)

    def snapshot(self) -> dict[str, Any]:
        return {
            "trackers": super().snapshot(),
            "windows": {s.key: [[iso(t), v] for t, v in w] for s, w in self.windows.items()},
        }

    def restore(self, data: dict[str, Any]) -> None:
        super().restore(data["trackers"])
        for key, items in data["windows"].items():
            self.windows[AlertSubject.from_key(key)] = deque((datetime.fromisoformat(t), v) for t, v in items)
