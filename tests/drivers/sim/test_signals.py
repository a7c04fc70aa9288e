"""The simulated world behaves like the real one where it matters to the rules downstream."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from drivers.sim.device_signals import profile_signal
from drivers.sim.signals import RiverScenario, Storm
from tests.harness.modbus import shipped_modbus_profile

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
STORM = Storm(start=T0 + timedelta(hours=2), duration=timedelta(hours=2), peak_mm_h=60, rise_m=1.8)


def test_rain_total_is_the_integral_of_the_rate() -> None:
    step = timedelta(seconds=10)
    t, integral = STORM.start - timedelta(minutes=5), 0.0
    while t < STORM.start + STORM.duration + timedelta(minutes=5):
        integral += STORM.rain_rate(t + step / 2) * step.total_seconds() / 3600
        t += step
        assert STORM.rain_total(t) == pytest.approx(integral, abs=0.01)
    assert STORM.rain_total(t) == pytest.approx(60 * 2 / 2)  # triangle: peak x duration / 2 = 60 mm


def test_the_river_rises_within_an_hour_of_heavy_rain_and_recedes() -> None:
    river = RiverScenario(epoch=T0, storms=(STORM,), noise_m=0.0, tide_m2_m=0.0, tide_k1_m=0.0)
    before = river.level(STORM.start)
    peak_time = STORM.start + STORM.duration / 2 + STORM.lag
    assert river.level(STORM.start + timedelta(hours=1)) - before > 0.5  # Ampal-like: fast
    assert river.level(peak_time) - before == pytest.approx(1.8)
    assert river.level(peak_time + timedelta(hours=12)) - before < 0.1


def test_tide_swings_twice_a_day() -> None:
    river = RiverScenario(epoch=T0, noise_m=0.0, tide_k1_m=0.0)
    levels = [river.level(T0 + timedelta(minutes=10 * i)) for i in range(6 * 26)]
    crossings = sum(1 for a, b in itertools.pairwise(levels) if (a - 1.2) * (b - 1.2) < 0)
    assert crossings == 4  # M2 period 12.42 h: mean level crossed every 6.21 h, four times in 26 h
    assert max(levels) - min(levels) == pytest.approx(0.9, abs=0.01)


def test_profile_signal_fills_every_channel_by_quantity() -> None:
    profile = shipped_modbus_profile("vegapuls-c21")
    river = RiverScenario(epoch=T0, noise_m=0.0)
    values = profile_signal(profile, river, {"mounting_height_m": 6.0}, unit_id=246)(T0)
    assert set(values) == {c.id for c in profile.channels}
    assert values["distance"] == pytest.approx(6.0 - float(values["level"]), abs=1e-3)
    assert values["pv_unit"] == 45  # the code that needs no conversion
    assert values["serial_number"] == "SIM00246"
