"""`kind: levels`: the reading values themselves through the levels machine (`rules/hysteresis.py`)."""

from __future__ import annotations

from datetime import datetime

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import TrackedRunner
from backend.rules.kinds.levels.config import LevelsRule
from backend.rules.quality import QcVerdict
from pantau.contract import Reading


class LevelsRunner(TrackedRunner):
    """`kind: levels`: the reading values themselves; readings QC failed (or missing) are ignored."""

    rule: LevelsRule

    def on_reading(
        self, series: AlertSubject, reading: Reading, verdict: QcVerdict, at: datetime
    ) -> list[Status]:
        if reading.value is None or not verdict.usable:
            return []
        return self.feed(series, reading.value, at, self.rule.unit or reading.unit)
