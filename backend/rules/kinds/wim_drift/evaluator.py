"""WIM scale drift: rolling median steering-axle load of one axle configuration against a reference.

The steering axle of 5-axle tractor semi-trailers (3-S2, configuration `1-2.2-2.2`) weighs about the same
whatever the truck carries, across the fleet; so the median over a week or more moves only when the scale
does (FHWA WIM Data Analyst's Manual, §5). The alert's value is |drift| in percent of the reference, through
the levels state machine (default: fires beyond 5 %, clears below 3 %). Every matching vehicle also yields a
`DriftUpdate` the backend can store to chart the median.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import LevelTracker, TrackedRunner
from backend.rules.inventory import Inventory
from backend.rules.kinds.wim_drift.config import WimDriftRule
from backend.rules.limits import groups_of
from backend.rules.runner import VehicleObserver
from pantau.contract import Quality, Vehicle


@dataclass(frozen=True, slots=True)
class DriftUpdate:
    """The rolling median after one more matching vehicle (None until `min_samples` are in the window)."""

    rule: str
    site: str
    device: str
    at: datetime
    samples: int
    median_kg: float | None
    reference_kg: float
    drift_pct: float | None


class WimDriftRunner(TrackedRunner, VehicleObserver[WimDriftRule, LevelTracker]):
    """`kind: wim_drift`."""

    rule: WimDriftRule

    def __init__(self, rule: WimDriftRule, inventory: Inventory) -> None:
        super().__init__(rule, inventory)
        self._groups = groups_of(rule.configuration)
        self.samples: dict[AlertSubject, dict[datetime, float]] = {}

    def matches(self, vehicle: Vehicle) -> bool:
        """The configuration the reference is for; by axle groups when tyres are not reported."""
        if vehicle.quality is not Quality.GOOD or not vehicle.axles:
            return False
        configuration = vehicle.axle_configuration
        if configuration is not None:
            return configuration == self.rule.configuration
        return self.rule.match_groups and vehicle.groups == self._groups

    def observe(self, series: AlertSubject, vehicle: Vehicle) -> tuple[DriftUpdate | None, list[Status]]:
        """Add a vehicle's steering axle; the median update and the alert status."""
        if not self.matches(vehicle):
            return None, []
        samples = self.samples.setdefault(series, {})
        samples[vehicle.ts] = vehicle.axles[0].load_kg  # by time: a re-delivered record replaces itself
        start = vehicle.ts - self.rule.window
        for ts in [ts for ts in samples if ts <= start]:
            del samples[ts]
        values = [kg for ts, kg in samples.items() if ts <= vehicle.ts]
        reference = self.rule.reference_kg
        if len(values) < self.rule.min_samples:
            update = DriftUpdate(
                self.rule.id, series.site, series.device or "", vehicle.ts, len(values), None, reference, None
            )
            return update, []
        middle = median(values)
        drift = (middle - reference) / reference * 100
        update = DriftUpdate(
            self.rule.id, series.site, series.device or "", vehicle.ts, len(values), middle, reference, drift
        )
        tracker = self.state.setdefault(series, LevelTracker())
        tracker.detail = f"{middle:,.0f} kg vs {reference:,.0f} kg, {drift:+.1f} %, n={len(values)}"
        return update, self.feed(series, abs(drift), vehicle.ts, self.rule.unit)

    def snapshot(self) -> dict[str, Any]:
        samples = {s.key: [[ts.isoformat(), kg] for ts, kg in v.items()] for s, v in self.samples.items()}
        return {"trackers": super().snapshot(), "samples": samples}

    def restore(self, data: dict[str, Any]) -> None:
        super().restore(data["trackers"])
        for key, items in data["samples"].items():
            self.samples[AlertSubject.from_key(key)] = {datetime.fromisoformat(ts): kg for ts, kg in items}
