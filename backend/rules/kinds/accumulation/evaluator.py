"""Rainfall accumulation over a rolling window (1 h, 24 h), from increments or from a cumulative counter.

- `input: increment`: each reading is the rain since the previous one (the gateway turns the HD2016's
  counter into channel `rain`, quantity `rain_increment`). Increments are kept by reading time, so a
  re-delivered message overwrites itself instead of counting twice.
- `input: counter`: each reading is a running total. The increment is the difference to the previous
  total; when the total goes down, it either wrapped (`counter_modulus` set and the wrapped difference is
  plausible) or the gauge was reset (power loss): then the new total is the rain since the reset.
  Differences above `max_increment` are dropped as implausible rather than summed.

The window sum goes through the levels state machine; the clock (`tick`) lets old rain leave the window
even when the gauge says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import LevelTracker, TrackedRunner
from backend.rules.inventory import Inventory
from backend.rules.kinds.accumulation.config import AccumulationRule
from backend.rules.quality import QcVerdict
from backend.rules.runner import from_iso, iso
from pantau.contract import Reading


def counter_increment(previous: float, current: float, modulus: float | None, most: float) -> float | None:
    """Rain between two counter totals; None when implausible (a jump beyond `most`)."""
    if current >= previous:
        step = current - previous
    elif modulus is not None and current + modulus - previous <= most:
        step = current + modulus - previous  # wrapped
    else:
        step = current  # reset to zero (power loss), counted up since
    return step if step <= most else None


@dataclass
class RainSeries:
    """Non-zero increments by reading time, the last counter total, and the level tracker on the sum."""

    increments: dict[datetime, float] = field(default_factory=dict)
    counter: float | None = None
    counter_at: datetime | None = None


class AccumulationRunner(TrackedRunner):
    """`kind: accumulation`."""

    rule: AccumulationRule

    def __init__(self, rule: AccumulationRule, inventory: Inventory) -> None:
        super().__init__(rule, inventory)
        self.rain: dict[AlertSubject, RainSeries] = {}

    def on_reading(
        self, series: AlertSubject, reading: Reading, verdict: QcVerdict, at: datetime
    ) -> list[Status]:
        if reading.value is None or not verdict.usable:
            return []
        rain = self.rain.setdefault(series, RainSeries())
        if self.rule.input == "counter":
            if rain.counter_at is not None and at <= rain.counter_at:
                return []
            previous, rain.counter, rain.counter_at = rain.counter, reading.value, at
            if previous is None:
                return []
            step = counter_increment(
                previous, reading.value, self.rule.counter_modulus, self.rule.max_increment
            )
        else:
            step = reading.value if 0 <= reading.value <= self.rule.max_increment else None
        if step:
            rain.increments[at] = step
        else:
            rain.increments.pop(at, None)
        return self._evaluate(series, rain, at)

    def window_sum(self, rain: RainSeries, at: datetime) -> float:
        """Rain in (at - window, at]; older increments are forgotten."""
        start = at - self.rule.window
        for ts in [ts for ts in rain.increments if ts <= start]:
            del rain.increments[ts]
        return sum(v for ts, v in rain.increments.items() if ts <= at)

    def _evaluate(self, series: AlertSubject, rain: RainSeries, at: datetime) -> list[Status]:
        tracker = self.state.setdefault(series, LevelTracker())
        if tracker.at is not None and at <= tracker.at:
            return []  # a late increment: counted, judged with the next reading
        return self.feed(series, round(self.window_sum(rain, at), 6), at, self.rule.unit)

    def tick(self, now: datetime) -> list[Status]:
        out = []
        for series, rain in self.rain.items():
            tracker = self.state.get(series)
            if tracker is None or tracker.at is None:
                continue
            at = tracker.clock(now)  # the series' time: a replayed backlog keeps its own
            leaving = any(ts <= at - self.rule.window for ts in rain.increments)
            # Only when rain leaves the window: a tick must not get ahead of readings still on their way.
            if leaving and at > tracker.at:
                out.extend(self._evaluate(series, rain, at))
        return out + super().tick(now)

    def snapshot(self) -> dict[str, Any]:
        rain = {
            s.key: {
                "increments": [[iso(ts), v] for ts, v in r.increments.items()],
                "counter": r.counter,
                "counter_at": iso(r.counter_at),
            }
            for s, r in self.rain.items()
        }
        return {"trackers": super().snapshot(), "rain": rain}

    def restore(self, data: dict[str, Any]) -> None:
        super().restore(data["trackers"])
        for key, item in data["rain"].items():
            self.rain[AlertSubject.from_key(key)] = RainSeries(
                increments={datetime.fromisoformat(ts): v for ts, v in item["increments"]},
                counter=item["counter"],
                counter_at=from_iso(item["counter_at"]),
            )
