"""Rate of rise, rain accumulation and scale drift on longer simulated signals; the no-flapping property."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.rules.kinds.accumulation.evaluator import counter_increment
from backend.rules.kinds.rate.evaluator import theil_sen
from pantau.contract import Reading

from .helpers import T0, engine, readings, vehicle

MINUTE = timedelta(minutes=1)
RATE = {
    "id": "laju",
    "kind": "rate",
    "select": {"channel": "level"},
    "window": "30m",
    "min_points": 5,
    "levels": [{"name": "Naik cepat", "trigger": 0.5, "clear": 0.3}],
}


def test_theil_sen_ignores_a_spike() -> None:
    points = [(float(t), 1.0 + 0.001 * t) for t in range(30)]
    points[15] = (15.0, 9.0)
    assert theil_sen(points) == pytest.approx(0.001)


def test_single_spikes_do_not_trigger_the_rate_rule() -> None:
    eng = engine(RATE)
    for minute in range(60):
        value = 3.0 if minute % 17 == 9 else 1.0 + 0.001 * minute  # 0.06 m/h with a 2 m spike now and then
        assert (
            eng.on_readings(readings(T0 + minute * MINUTE, level=value), T0 + minute * MINUTE).transitions
            == []
        )


def test_a_fast_rise_fires_and_a_plateau_clears() -> None:
    eng = engine(RATE)
    fired, cleared = [], []
    level = 1.0
    for minute in range(120):
        level += 0.02 if 10 <= minute < 50 else 0.0  # 1.2 m/h for 40 minutes, then steady
        now = T0 + minute * MINUTE
        for t in eng.on_readings(readings(now, level=level), now).transitions:
            (fired if t.state == "firing" else cleared).append((minute, t))
    assert len(fired) == 1 and 12 <= fired[0][0] <= 20  # once the rising part outweighs the flat part
    assert fired[0][1].unit == "m/h" and fired[0][1].value is not None and fired[0][1].value >= 0.5
    assert len(cleared) == 1 and 50 < cleared[0][0] < 80


def test_failed_readings_never_enter_the_rate_window() -> None:
    eng = engine(
        RATE,
        {
            "id": "qc",
            "kind": "qc",
            "select": {"channel": "level"},
            "gross_range": {"fail": {"min": 0, "max": 5}},
        },
    )
    for minute in range(30):
        now = T0 + minute * MINUTE
        value = 9.0 if minute >= 20 else 1.0  # a sensor stuck at an impossible value
        assert eng.on_readings(readings(now, level=value), now).transitions == []


def test_rate_of_fall() -> None:
    eng = engine({**RATE, "change": "fall"})
    got = []
    for minute in range(20):
        now = T0 + minute * MINUTE
        got += eng.on_readings(readings(now, level=3.0 - 0.02 * minute), now).transitions
    assert [(t.state, t.value) for t in got] == [("firing", pytest.approx(1.2))]


@pytest.mark.parametrize(
    ("previous", "current", "modulus", "step"),
    [
        (10.0, 10.25, None, 0.25),
        (10.2, 10.2, None, 0.0),
        (4294967.0, 0.5, 4294967.296, pytest.approx(0.796)),  # wrapped
        (1234.5, 0.4, 4294967.296, 0.4),  # reset (power loss): counted up from zero since
        (1234.5, 0.4, None, 0.4),
        (10.0, 900.0, None, None),  # implausible jump
    ],
)
def test_counter_increment(previous: float, current: float, modulus: float | None, step: object) -> None:
    assert counter_increment(previous, current, modulus, 200.0) == step


def _rain(value: float, minute: float, channel: str = "rain") -> tuple[object, object]:
    now = T0 + timedelta(minutes=minute)
    return readings(now, device="rain", **{channel: Reading(value=value, unit="mm")}), now


def test_accumulation_from_a_counter_that_wraps_and_resets() -> None:
    eng = engine(
        {
            "id": "hujan-24j",
            "kind": "accumulation",
            "select": {"device": "rain", "channel": "rain_total"},
            "input": "counter",
            "counter_modulus": 4294967.296,
            "window": "24h",
            "levels": [{"name": "lebat", "trigger": 50, "clear": 45}],
        }
    )
    totals = [4294900.0, 4294930.0, 4294960.0, 3.704, 10.0, 0.0, 5.0]  # wraps, then a power loss reset
    transitions = []
    for k, total in enumerate(totals):
        msg, now = _rain(total, k * 60, "rain_total")
        transitions += eng.on_readings(msg, now).transitions  # type: ignore[arg-type]
    # 30 + 30 (fires at 60 mm) + 11 (wrapped) + 6.296 + 0 (reset to zero) + 5 = 82.296 mm
    assert [(t.state, t.level, t.value) for t in transitions] == [("firing", "lebat", pytest.approx(60.0))]
    state = eng.snapshot()["rules"]["hujan-24j"]["state"]["trackers"]
    assert next(iter(state.values()))["value"] == pytest.approx(82.296)


def test_accumulation_windows_from_increments() -> None:
    eng = engine(
        {
            "id": "hujan-1j",
            "kind": "accumulation",
            "select": {"channel": "rain"},
            "window": "1h",
            "levels": [{"name": "lebat", "trigger": 10, "clear": 8}],
        },
        {
            "id": "hujan-24j",
            "kind": "accumulation",
            "select": {"channel": "rain"},
            "window": "24h",
            "levels": [{"name": "lebat", "trigger": 50, "clear": 45}],
        },
    )
    log = []
    for minute in range(0, 360, 1):
        value = 0.2 if minute % 60 < 50 else 0.0  # 10 mm in the first 50 minutes of every hour
        msg, now = _rain(value, minute)
        log += [(minute, t.rule, t.state) for t in eng.on_readings(msg, now).transitions]  # type: ignore[arg-type]
        if minute == 30:
            again = eng.on_readings(msg, now)  # re-delivered: overwrites itself, never double counts
            assert again.transitions == []
    assert log[0] == (49, "hujan-1j", "firing")  # 50 x 0.2 mm
    assert (289, "hujan-24j", "firing") in log  # 5 x 10 mm
    hourly = [(m, s) for m, r, s in log if r == "hujan-1j"]
    assert hourly == [(49, "firing")]  # the hourly sum then wavers between 8 and 10 mm: within the hysteresis
    # the gauge falls silent: the clock empties the hourly window; 60 mm stay in the daily one
    quiet = eng.tick(T0 + timedelta(hours=8))
    assert [(t.rule, t.state, t.value) for t in quiet] == [("hujan-1j", "resolved", 0.0)]


def test_wim_drift_over_ten_days() -> None:
    eng = engine(
        {
            "id": "drift",
            "kind": "wim_drift",
            "reference_kg": 5400,
            "window": "7d",
            "min_samples": 50,
            "levels": [{"name": "drift", "trigger": 5.0, "clear": 3.0}],
        }
    )
    rng = random.Random(7)  # noqa: S311 - a reproducible simulated fleet
    fired_on_day = None
    updates = 0
    for day in range(10):
        scale = 1.0 + 0.02 * max(0, day - 2)  # the scale reads 2 % heavier each day from day 3
        for k in range(60):
            ts = T0 + timedelta(days=day, minutes=20 * k)
            steer = rng.gauss(5400, 250) * scale
            other = [9000 * scale] * 4
            for truck in (
                vehicle([steer, *other], "1-2.2-2.2", ts),
                vehicle([4000, 8000], "1-2", ts + MINUTE),
            ):
                result = eng.on_vehicle(truck, truck.ts)
                updates += len(result.drift)
                if any(t.state == "firing" for t in result.transitions) and fired_on_day is None:
                    fired_on_day = day
        # 3-S2 trucks without tyre data still count, by axle groups
    assert updates == 600
    assert fired_on_day in (7, 8)  # the 7-day median lags the scale: it passes 5 % about day 8
    (alert,) = eng.active_alerts()
    assert alert.rule == "drift" and alert.unit == "%" and "vs 5,400 kg" in alert.message


def test_wim_drift_matches_by_groups_without_tyres() -> None:
    eng = engine({"id": "drift", "kind": "wim_drift", "reference_kg": 5400, "min_samples": 3})
    no_tyres = vehicle([5400, 9000, 9000, 9000, 9000], None, groups=[1, 2, 2])
    assert len(eng.on_vehicle(no_tyres, T0).drift) == 1
    assert eng.on_vehicle(vehicle([5400, 9000], None, T0 + MINUTE, groups=[1, 1]), T0).drift == []


@settings(max_examples=60, deadline=None)
@given(
    noise=st.lists(st.floats(min_value=-0.049, max_value=0.049), min_size=5, max_size=200),
    pending=st.sampled_from(["0s", "30s", "2m"]),
    hold=st.sampled_from(["0s", "1m"]),
)
def test_noise_within_the_hysteresis_gap_fires_at_most_once(
    noise: list[float], pending: str, hold: str
) -> None:
    eng = engine(
        {
            "id": "muka-air",
            "kind": "levels",
            "select": {"channel": "level"},
            "pending": pending,
            "hold": hold,
            "levels": [{"name": "Siaga", "trigger": 2.0, "clear": 1.9}],
        }
    )
    states = []
    for k, wobble in enumerate(noise):
        now = T0 + timedelta(seconds=10 * k)
        states += [t.state for t in eng.on_readings(readings(now, level=2.0 + wobble), now).transitions]
        states += [t.state for t in eng.tick(now + timedelta(seconds=5))]
    assert states.count("firing") <= 1
    assert "resolved" not in states  # never back below the clear threshold
    assert states.count("pending") <= 1
