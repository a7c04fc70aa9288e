"""Issue 21, defect 1 in the engine: a reading whose time cannot be believed (quality `clock_skew`) never
moves rule state, and a time ahead of arrival never keeps a device fresh."""

from __future__ import annotations

from datetime import timedelta

from backend.ingest.clock_skew import check_time
from pantau.contract import Quality, Reading, Reason

from .helpers import T0, engine, readings, vehicle

LEVELS = {
    "id": "muka-air",
    "kind": "levels",
    "select": {"channel": "level"},
    "pending": "1m",
    "levels": [{"name": "Siaga I", "trigger": 2.9, "clear": 2.8}],
}
STALE = {"id": "data-basi", "kind": "stale", "select": {"device": "wl-radar"}, "after": "10m"}
TEN_YEARS = timedelta(days=3653)
SEC = timedelta(seconds=1)


def skewed(value: float) -> Reading:
    return Reading(value=value, unit="m", quality=Quality.CLOCK_SKEW, reason=Reason.CLOCK_AHEAD)


def test_a_reading_dated_years_ahead_does_not_freeze_the_level_series() -> None:
    eng = engine(LEVELS)
    ahead = check_time(readings(T0 + TEN_YEARS, level=0.5), T0)
    evaluation = eng.on_readings(ahead, T0)
    assert evaluation.transitions == []
    assert evaluation.qc["level"].flag == 3 and evaluation.qc["level"].reason == "clock_ahead"
    story = []
    for i in range(19):  # 3 minutes at 3.20 m, every 10 s
        t = T0 + 10 * i * SEC
        story += [(x.state, x.level) for x in eng.on_readings(readings(t, level=3.2), t).transitions]
    assert story == [("pending", "Siaga I"), ("firing", "Siaga I")]


def test_a_gateway_marked_reading_is_ignored_by_every_reading_rule() -> None:
    rate = {"id": "laju", "kind": "rate", "select": {"channel": "level"}, "window": "10m", "min_points": 3,
            "levels": [{"name": "Naik", "trigger": 0.5, "clear": 0.3}]}  # fmt: skip
    eng = engine({**LEVELS, "pending": "0s"}, rate)
    assert eng.on_readings(readings(T0, level=skewed(3.5)), T0).transitions == []
    assert eng.snapshot()["rules"]["muka-air"]["state"] == {}
    assert eng.snapshot()["rules"]["laju"]["state"] == {"trackers": {}, "windows": {}}


def test_a_time_ahead_of_arrival_keeps_no_device_fresh() -> None:
    eng = engine(STALE)
    eng.tick(T0)
    # Within the allowed skew, so not marked: still, it counts as heard at its arrival, not at its time.
    eng.on_readings(readings(T0 + 4 * 60 * SEC, level=1.0), T0)
    (stale,) = eng.tick(T0 + 601 * SEC)
    assert (stale.rule, stale.state, stale.level) == ("data-basi", "firing", "stale")


def test_a_marked_reading_is_no_sign_of_life() -> None:
    eng = engine(STALE)
    eng.tick(T0)
    eng.on_readings(readings(T0, level=1.0), T0)
    eng.on_readings(readings(T0 + 300 * SEC, level=skewed(1.0)), T0 + 300 * SEC)
    (stale,) = eng.tick(T0 + 601 * SEC)
    assert stale.state == "firing"


def test_a_vehicle_dated_ahead_is_judged_but_counts_in_no_window() -> None:
    odol = {"id": "odol", "kind": "odol", "select": {"device": "wim-1"}, "alert_window": "1h",
            "levels": [{"name": "Harus turun muatan", "trigger": 1}]}  # fmt: skip
    eng = engine(odol)
    # A 1-2.2 truck (JBI 22 t on a class I road) at 40 t: a violation, whatever its time.
    truck = check_time(vehicle([6000, 17000, 17000], "1-2.2", T0 + TEN_YEARS), T0)
    assert truck.quality is Quality.CLOCK_SKEW
    judged = eng.on_vehicle(truck, T0)
    assert judged.verdict is not None and judged.verdict.verdict == "violation"
    assert judged.transitions == []
