"""A compressed demo timeline: storms that recur on the Sungai Ampal, trucks of which some must unload.

`pantau demo` runs the simulators on a clock that runs `speed` times faster than the wall clock, so a
storm whose runoff takes an hour to peak peaks within a minute. Readings are still stamped with the
gateway's real time (the rules judge them as they would in the field); only the world they measure runs
fast. Everything here is a pure function of time or seeded randomness, like the rest of drivers/sim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from drivers.serial_records.records import VehicleRecord
from drivers.sim.signals import RiverScenario, Storm
from drivers.sim.traffic import JBI_CONFIGURATIONS, TrafficGenerator
from pantau.contract import Axle


@dataclass(frozen=True)
class RecurringStorm(Storm):
    """The same storm again every `every` (simulated time), from `start` on; rain totals keep counting."""

    every: timedelta = timedelta(hours=10)

    def _shift(self, t: datetime) -> tuple[int, datetime]:
        """How many storms have started before the current one, and t seen from the current one's start."""
        k = max(0, math.floor((t - self.start) / self.every))
        return k, t - self.every * k

    def rain_rate(self, t: datetime) -> float:
        return super().rain_rate(self._shift(t)[1])

    def rain_total(self, t: datetime) -> float:
        k, local = self._shift(t)
        return k * super().rain_total(self.start + self.duration) + super().rain_total(local)

    def runoff_rise(self, t: datetime) -> float:
        k, local = self._shift(t)
        # The previous storm's recession tail still runs under the current one.
        tail = super().runoff_rise(local + self.every) if k > 0 else 0.0
        return super().runoff_rise(local) + tail


def demo_river(start: datetime) -> RiverScenario:
    """Sungai Ampal at Mufakat for the demo, in simulated time from `start`.

    A storm 5 minutes in (80 mm/h at its peak, 40 mm in the hour) lifts the river by 2.1 m, peaking 55
    minutes in: past every Siaga level of firmware_configs/rules/balikpapan.yaml (1.50 .. 2.90 m) and past
    the bank top on the radar's freeboard (distance below 3.00 m). It recurs every 10 simulated hours (ten
    minutes of the demo).
    The tide's epoch puts the first storm on a rising tide, as the worst floods on a tidal reach are.
    """
    storm = RecurringStorm(
        start=start + timedelta(minutes=5),
        duration=timedelta(hours=1),
        peak_mm_h=80.0,
        rise_m=2.1,
        lag=timedelta(minutes=20),
        recession=timedelta(hours=2),
    )
    return RiverScenario(epoch=start + timedelta(hours=1.5), storms=(storm,))


def compressed_clock(start: datetime, speed: float) -> Callable[[], datetime]:
    """Simulated time: `start` now, then `speed` simulated seconds per real second."""
    real_start = datetime.now(UTC)
    return lambda: start + (datetime.now(UTC) - real_start) * speed


@dataclass
class EnforcementTraffic(TrafficGenerator):
    """Corridor traffic where every `unload_every`-th truck (the first one among them) is more than 100 %
    over its JBI: the `turun-muatan` band that pages the enforcement bay.

    The plain generator's overloads stay below 2x JBI (most overloads do); the demo needs the extreme
    ones too, early and regularly, so an operator watching sees the whole chain within a minute.
    """

    unload_every: int = 6

    def __post_init__(self) -> None:
        super().__post_init__()
        self._drawn = 0

    def truck(self, ts: datetime, lane: int | None = None) -> VehicleRecord:
        record = super().truck(ts, lane)
        self._drawn += 1
        if self.unload_every <= 0 or self._drawn % self.unload_every != 2 % self.unload_every:
            return record
        jbi = JBI_CONFIGURATIONS.get(record.vehicle_class or "", (0, 0.0))[0]
        if not jbi:
            return record
        factor = jbi * self._random.uniform(2.05, 2.4) / record.gvw_kg
        axles = [
            Axle(load_kg=round(a.load_kg * factor, -1), tyres=a.tyres, spacing_m=a.spacing_m)
            for a in record.axles
        ]
        return record.model_copy(update={"axles": axles, "gvw_kg": sum(a.load_kg for a in axles)})
