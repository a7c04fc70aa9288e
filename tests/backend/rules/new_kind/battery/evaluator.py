"""`kind: battery`: the voltage readings through the levels machine (`rules/hysteresis.py`)."""

# The folder is copied into backend/rules/kinds/ by test_new_kind.py; here, ruff cannot tell that
# backend.rules.kinds.battery is first-party.
# ruff: noqa: I001

from __future__ import annotations

from datetime import datetime

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import TrackedRunner
from backend.rules.kinds.battery.config import BatteryRule
from backend.rules.quality import QcVerdict
from pantau.contract import Reading


class BatteryRunner(TrackedRunner):
    rule: BatteryRule

    def on_reading(
        self, series: AlertSubject, reading: Reading, verdict: QcVerdict, at: datetime
    ) -> list[Status]:
        if reading.value is None or not verdict.usable:
            return []
        return self.feed(series, reading.value, at, reading.unit)
