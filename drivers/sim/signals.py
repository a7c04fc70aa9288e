"""Realistic signals for simulated devices: a tidal river with storm hydrographs, rain bursts.

Balikpapan's lower reaches are tidal, so a gauge there sees a mixed semi-diurnal tide (M2 + K1) on which
storm runoff arrives; Sungai Ampal rises within an hour of heavy rain. All functions are pure functions of
time (closed forms, no integration state), so any poll at any moment sees a consistent world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_M2_HOURS = 12.4206  # principal lunar semi-diurnal tide
_K1_HOURS = 23.9345  # lunisolar diurnal tide


@dataclass(frozen=True)
class Storm:
    """One storm: rain at `peak_mm_h` shaped as a triangle over `duration`, starting at `start`."""

    start: datetime
    duration: timedelta = timedelta(hours=2)
    peak_mm_h: float = 60.0
    #: Water level rise at the gauge at the storm's peak runoff, and how the river responds.
    rise_m: float = 1.8
    lag: timedelta = timedelta(minutes=45)
    recession: timedelta = timedelta(hours=3)

    def rain_rate(self, t: datetime) -> float:
        """mm/h at time t."""
        x = (t - self.start) / self.duration
        if not 0 <= x <= 1:
            return 0.0
        return self.peak_mm_h * (1 - abs(2 * x - 1))

    def rain_total(self, t: datetime) -> float:
        """mm fallen from the storm's start up to t (integral of the triangle)."""
        hours = self.duration.total_seconds() / 3600
        x = min(max((t - self.start) / self.duration, 0.0), 1.0)
        full = self.peak_mm_h * hours / 2
        if x <= 0.5:
            return full * 2 * x * x
        return full * (1 - 2 * (1 - x) ** 2)

    def runoff_rise(self, t: datetime) -> float:
        """Metres of level this storm adds at t: a hydrograph peaking `lag` after the rain peak."""
        peak_at = self.start + self.duration / 2 + self.lag
        rising = self.duration / 2 + self.lag
        if t <= self.start:
            return 0.0
        if t <= peak_at:
            x = (t - self.start) / rising
            return self.rise_m * x**2 * (3 - 2 * x)  # smooth S-curve up to the peak
        return self.rise_m * math.exp(-((t - peak_at) / self.recession))


@dataclass(frozen=True)
class RiverScenario:
    """Water level (m above gauge zero) of a tidal river gauge with storms."""

    base_m: float = 1.2
    tide_m2_m: float = 0.45
    tide_k1_m: float = 0.25
    epoch: datetime = datetime(2026, 1, 1)  # noqa: DTZ001 - replaced by an aware time in practice
    storms: tuple[Storm, ...] = field(default_factory=tuple)
    noise_m: float = 0.004

    def level(self, t: datetime) -> float:
        hours = (t - self.epoch.replace(tzinfo=t.tzinfo)).total_seconds() / 3600
        tide = self.tide_m2_m * math.sin(2 * math.pi * hours / _M2_HOURS) + self.tide_k1_m * math.sin(
            2 * math.pi * hours / _K1_HOURS + 1.1
        )
        runoff = sum(storm.runoff_rise(t) for storm in self.storms)
        return self.base_m + tide + runoff + self.noise_m * _jitter(t)

    def rain_rate(self, t: datetime) -> float:
        return sum(storm.rain_rate(t) for storm in self.storms)

    def rain_total(self, t: datetime) -> float:
        return sum(storm.rain_total(t) for storm in self.storms)


def _jitter(t: datetime) -> float:
    """Deterministic noise in [-1, 1] from the timestamp: repeatable runs, no hidden random state."""
    seconds = t.timestamp()
    return math.sin(seconds * 12.9898) * 0.6 + math.sin(seconds * 78.233) * 0.4
