"""QARTOD tests on readings: gross range, spike, flat line; and an alert when failures persist.

Each test looks at the newest reading and the readings before it, so a verdict is final when the reading
arrives and storage never has to rewrite history (the textbook QARTOD spike test flags the *previous* point
from its two neighbours; comparing the newest point with the median of the ones before it needs no delay,
and a real step in the water level passes again once the median has caught up).

- gross range: outside `fail` (the sensor's span) fails, outside `suspect` (plausible here) is suspect.
- spike: |value - median(previous `window` values)| above `suspect` / `fail`.
- flat line: the value and the readings right before it all within `eps`: `suspect_count` of them in a row
  is suspect (default 4), `fail_count` fails (default 6), as in the QARTOD water-level manual's example.

Values that failed the gross range stay out of the history (a -9999 sentinel must not become the spike
median); spikes stay in, so a genuine step is accepted after a few readings.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import LevelTracker
from backend.rules.inventory import Inventory
from backend.rules.kinds.levels.config import LevelsRule
from backend.rules.kinds.qc.config import QcRule
from backend.rules.quality import FAIL, PASS, SUSPECT, QcVerdict
from backend.rules.rule import Level
from backend.rules.runner import ReadingCheck
from pantau.contract import Reading, Reason


def run_tests(rule: QcRule, history: list[float], value: float) -> QcVerdict:
    """The worst verdict of the rule's tests on `value`, given the values before it (oldest first)."""
    verdict = QcVerdict(PASS)
    if rule.gross_range is not None:
        fail, suspect = rule.gross_range.fail, rule.gross_range.suspect
        if fail is not None and not fail.min <= value <= fail.max:
            return QcVerdict(FAIL, Reason.GROSS_RANGE, f"{value:g} outside {fail.min:g}..{fail.max:g}")
        if suspect is not None and not suspect.min <= value <= suspect.max:
            detail = f"{value:g} outside {suspect.min:g}..{suspect.max:g}"
            verdict = verdict.worst(QcVerdict(SUSPECT, Reason.GROSS_RANGE, detail))
    spike = rule.spike
    if spike is not None and len(history) >= spike.window:
        reference = median(history[-spike.window :])
        jump = abs(value - reference)
        detail = f"{value:g} is {jump:g} from the median {reference:g}"
        if spike.fail is not None and jump > spike.fail:
            verdict = verdict.worst(QcVerdict(FAIL, Reason.SPIKE, detail))
        elif jump > spike.suspect:
            verdict = verdict.worst(QcVerdict(SUSPECT, Reason.SPIKE, detail))
    flat = rule.flat_line
    if flat is not None:
        repeats = 1
        for earlier in reversed(history):
            if abs(earlier - value) > flat.eps:
                break
            repeats += 1
        detail = f"{value:g} repeated {repeats} times"
        if repeats >= flat.fail_count:
            verdict = verdict.worst(QcVerdict(FAIL, Reason.FLAT_LINE, detail))
        elif repeats >= flat.suspect_count:
            verdict = verdict.worst(QcVerdict(SUSPECT, Reason.FLAT_LINE, detail))
    return verdict


@dataclass
class QcSeries:
    history: deque[float]
    at: datetime | None = None
    alert: LevelTracker = field(default_factory=LevelTracker)


class QcRunner(ReadingCheck[QcRule, QcSeries]):
    """Verdicts per reading; the series alert fires once failures (or suspects) last `alert_after`."""

    def __init__(self, rule: QcRule, inventory: Inventory) -> None:
        super().__init__(rule, inventory)
        self._size = max(
            rule.spike.window if rule.spike else 1, rule.flat_line.fail_count if rule.flat_line else 1
        )
        # The persistence alert is a one-level tracker on "failing now" (1) vs "passing" (0).
        self._alert_rule = LevelsRule(
            id=rule.id,
            kind="levels",
            levels=[Level(name="qc", trigger=1.0, clear=0.5, severity=rule.severity)],
            pending=rule.alert_after,
            hold=rule.clear_after,
            valid_for=max(rule.alert_after, rule.clear_after),
        )

    def check(self, series: AlertSubject, reading: Reading, at: datetime) -> tuple[QcVerdict, list[Status]]:
        """The verdict on one reading (never better than the gateway's) and the series alert's status."""
        verdict = QcVerdict.of(reading)
        state = self.state.setdefault(series, QcSeries(deque(maxlen=self._size)))
        if state.at is not None and at <= state.at:
            return verdict, []  # a duplicate or late reading: judged without touching the history
        if reading.value is not None and verdict.usable:
            history = list(state.history)
            verdict = verdict.worst(run_tests(self.rule, history, reading.value))
            if not (verdict.flag == FAIL and verdict.reason == Reason.GROSS_RANGE):
                state.history.append(reading.value)
        if not verdict.usable and verdict.flag != FAIL:
            return verdict, []  # missing: nothing to judge; stale rules report silence
        state.at = at
        threshold = FAIL if self.rule.alert_on == "fail" else SUSPECT
        failing = verdict.flag >= threshold
        if failing:
            state.alert.detail = f"{verdict.reason}: {verdict.detail}" if verdict.detail else verdict.reason
        state.alert.unit = None
        state.alert.update(self._alert_rule, 1.0 if failing else 0.0, at, self.arrival)
        status = state.alert.status(self._alert_rule, series, at)
        return verdict, [_without_value(status)]

    def tick(self, now: datetime) -> list[Status]:
        out = []
        for series, state in self.state.items():
            at = state.alert.advance(self._alert_rule, now)
            out.append(_without_value(state.alert.status(self._alert_rule, series, at)))
        return out

    def dump(self, state: QcSeries) -> Any:
        return {
            "history": list(state.history),
            "at": state.at.isoformat() if state.at else None,
            "alert": state.alert.dump(self._alert_rule),
        }

    def load(self, data: Any) -> QcSeries:
        return QcSeries(
            history=deque(data["history"], maxlen=self._size),
            at=datetime.fromisoformat(data["at"]) if data["at"] else None,
            alert=LevelTracker.load(self._alert_rule, data["alert"]),
        )


def _without_value(status: Status) -> Status:
    """The 0/1 the tracker sees means nothing to an operator: publish the reason instead. Pending stays
    internal: one spike must not publish a transition, only failures that last `alert_after` do."""
    firing = status.state == "firing"
    return Status(
        status.series,
        "firing" if firing else "resolved",
        status.at,
        level=status.level if firing else None,
        severity=status.severity,
        detail=status.detail,
        since=status.since,
    )
