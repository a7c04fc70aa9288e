"""Ordered alert levels with hysteresis, pending and hold: the state machine several rule kinds share.

For each level, a *run* starts at the first value beyond its trigger and ends only when a value is back on
the safe side of its clear threshold; noise between the two neither starts nor breaks a run. A level fires
once its run has lasted `pending`. The firing level drops (to the highest level whose clear threshold the
value is not yet past, or to resolved) once the value has stayed safe of the firing level's clear threshold
for `hold`. So a signal wobbling within the hysteresis gap fires once and stays put.

`levels` rules feed it the reading values; `rate`, `accumulation`, `odol` and `wim_drift` feed it the slope,
the window sum, the violation count and the drift they compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.rule import ThresholdRule
from backend.rules.runner import Runner, from_iso, iso


@dataclass
class LevelTracker:
    """One series' position among a rule's levels; `active` is the firing level's index, -1 when none."""

    active: int = -1
    since: dict[int, datetime] = field(default_factory=dict)
    clear_since: datetime | None = None
    value: float | None = None
    at: datetime | None = None
    unit: str | None = None
    detail: str | None = None
    heard_at: datetime | None = None

    def update(self, rule: ThresholdRule, value: float, at: datetime, heard: datetime | None = None) -> bool:
        """Take a new value (read at `at`, arrived at `heard`); False (and ignored) when not newer."""
        if self.at is not None and at <= self.at:
            return False
        self.value, self.at, self.heard_at = value, at, heard or at
        up = rule.upward
        for i, level in enumerate(rule.levels):
            if _beyond(value, level.trigger, up=up):
                self.since.setdefault(i, at)
            elif _safe(value, level.clear_at, up=up):
                self.since.pop(i, None)
        if self.active >= 0 and _safe(value, rule.levels[self.active].clear_at, up=up):
            self.clear_since = self.clear_since or at
        else:
            self.clear_since = None
        self._settle(rule, at)
        return True

    def clock(self, now: datetime) -> datetime:
        """The series' own time at wall time `now`: its last value's time plus how long it has been silent
        since that value arrived. Live, that is `now`; while a gateway replays a backlog hours old, it stays
        with the backlog, so the clock never settles a timer the data still on its way would contradict."""
        if self.at is None:
            return now
        silent = max(now - (self.heard_at or self.at), timedelta(0))
        return min(now, self.at + silent)

    def advance(self, rule: ThresholdRule, now: datetime) -> datetime:
        """Let pending and hold timers run on the series' clock, the last value standing for at most
        `valid_for`; the series' time it settled at."""
        at = self.clock(now)
        if self.at is not None and at > self.at:
            self._settle(rule, min(at, self.at + rule.valid_for))
        return at

    def _settle(self, rule: ThresholdRule, at: datetime) -> None:
        matured = [i for i, start in self.since.items() if at - start >= rule.pending]
        top = max(matured, default=-1)
        if top > self.active:
            self.active, self.clear_since = top, None
            return
        if self.active >= 0 and self.clear_since is not None and at - self.clear_since >= rule.hold:
            assert self.value is not None  # noqa: S101 - clear_since is only set with a value
            up = rule.upward
            still = [i for i in range(self.active) if not _safe(self.value, rule.levels[i].clear_at, up=up)]
            self.active, self.clear_since = max(still, default=-1), None

    def status(self, rule: ThresholdRule, series: AlertSubject, at: datetime) -> Status:
        """The alert this position means: firing at the active level, pending on the highest run, resolved."""
        if self.active < 0 and not self.since:
            return Status(series, "resolved", at, level=rule.normal, value=self.value, unit=self.unit)
        index = self.active if self.active >= 0 else max(self.since)
        level = rule.levels[index]
        return Status(
            series,
            "firing" if self.active >= 0 else "pending",
            at,
            level=level.name,
            severity=rule.level_severity(index),
            value=self.value,
            threshold=level.trigger,
            unit=self.unit,
            detail=self.detail,
            since=min(self.since.values(), default=at),
        )

    def dump(self, rule: ThresholdRule) -> dict[str, Any]:
        names = [level.name for level in rule.levels]
        return {
            "active": names[self.active] if self.active >= 0 else None,
            "since": {names[i]: iso(start) for i, start in self.since.items()},
            "clear_since": iso(self.clear_since),
            "value": self.value,
            "at": iso(self.at),
            "unit": self.unit,
            "detail": self.detail,
            "heard_at": iso(self.heard_at),
        }

    @classmethod
    def load(cls, rule: ThresholdRule, data: dict[str, Any]) -> LevelTracker:
        """Back from `dump`, matching levels by name: levels renamed or removed since are forgotten."""
        index = {level.name: i for i, level in enumerate(rule.levels)}
        since = {
            index[name]: datetime.fromisoformat(ts) for name, ts in data["since"].items() if name in index
        }
        return cls(
            active=index.get(data["active"], -1),
            since=since,
            clear_since=from_iso(data["clear_since"]),
            value=data["value"],
            at=from_iso(data["at"]),
            unit=data["unit"],
            detail=data["detail"],
            heard_at=from_iso(data.get("heard_at")),
        )


def _beyond(value: float, threshold: float, *, up: bool) -> bool:
    return value >= threshold if up else value <= threshold


def _safe(value: float, threshold: float, *, up: bool) -> bool:
    return value < threshold if up else value > threshold


class TrackedRunner(Runner[Any, LevelTracker]):
    """A runner whose series each own a LevelTracker; ticks let its timers run."""

    rule: ThresholdRule

    def feed(self, series: AlertSubject, value: float, at: datetime, unit: str | None) -> list[Status]:
        tracker = self.state.setdefault(series, LevelTracker())
        tracker.unit = unit
        if not tracker.update(self.rule, value, at, self.arrival):
            return []
        return [tracker.status(self.rule, series, at)]

    def tick(self, now: datetime) -> list[Status]:
        out = []
        for series, tracker in self.state.items():
            at = tracker.advance(self.rule, now)
            out.append(tracker.status(self.rule, series, at))
        return out

    def dump(self, state: LevelTracker) -> Any:
        return state.dump(self.rule)

    def load(self, data: Any) -> LevelTracker | None:
        return LevelTracker.load(self.rule, data)
