"""The demo's world against the demo's rules: the storm crosses what the rules watch, the trucks include
ones that must unload, and the files written for the gateways and backend load as the field loads them."""

from __future__ import annotations

import hashlib
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.rules.config import validate_rules
from backend.rules.kinds.levels.config import LevelsRule
from backend.rules.kinds.odol.config import OdolRule
from backend.rules.kinds.qc.config import QcRule
from drivers.serial_records.records import VehicleRecord
from drivers.sim.scenario import EnforcementTraffic, RecurringStorm, demo_river
from drivers.sim.traffic import JBI_CONFIGURATIONS
from pantau.site.config import ModbusBusSpec, RecordStreamSpec
from pantau_demo.configs import PUBLIC_ROUTES, Broker, Links, rules_document, write_demo_files
from pantau_demo.devices import SPEED

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
MOUNTING_HEIGHT_M = 6.20  # firmware_configs/sites/ampal-mufakat.yaml, wl-radar


def sim(real_seconds: float) -> datetime:
    return START + timedelta(seconds=real_seconds * SPEED)


def rule(rule_id: str) -> object:
    rules = validate_rules(rules_document(), source="demo rules")
    return next(r for r in rules.rules if r.id == rule_id)


def test_the_storm_takes_the_river_through_every_level_within_90_seconds() -> None:
    river = demo_river(START)
    levels = rule("ampal-muka-air")
    freeboard = rule("ampal-jagaan")
    assert isinstance(levels, LevelsRule) and isinstance(freeboard, LevelsRule)
    first_minute_and_a_half = [river.level(sim(s)) for s in range(91)]
    assert first_minute_and_a_half[0] < levels.levels[0].trigger  # it starts normal
    assert max(first_minute_and_a_half) > levels.levels[-1].trigger  # Siaga I
    assert MOUNTING_HEIGHT_M - max(first_minute_and_a_half) < freeboard.levels[-1].trigger  # Bahaya
    # ... and falls back below Siaga IV's clear level before the next storm.
    assert min(river.level(sim(s)) for s in range(400, 600)) < levels.levels[0].clear_at


def test_the_fastest_rise_is_no_spike_at_one_second_polls() -> None:
    qc = rule("ampal-qc-muka-air")
    assert isinstance(qc, QcRule) and qc.spike is not None
    river = demo_river(START)
    series = [river.level(sim(s)) for s in range(300)]  # the gauges poll every second
    window = qc.spike.window
    jumps = [abs(series[i] - statistics.median(series[i - window : i])) for i in range(window, len(series))]
    assert max(jumps) < qc.spike.suspect


def test_a_recurring_storm_keeps_counting_rain_and_flows_on_across_its_period() -> None:
    storm = RecurringStorm(start=START, duration=timedelta(hours=1), every=timedelta(hours=10))
    one_storm = storm.rain_total(START + timedelta(hours=2))
    assert storm.rain_total(START + timedelta(hours=22)) == pytest.approx(3 * one_storm)
    totals = [storm.rain_total(START + timedelta(minutes=m)) for m in range(0, 40 * 60, 7)]
    assert totals == sorted(totals)
    boundary = START + timedelta(hours=10)
    before, after = storm.runoff_rise(boundary - timedelta(seconds=1)), storm.runoff_rise(boundary)
    assert after == pytest.approx(before, abs=0.01)


def test_traffic_includes_trucks_that_must_unload_early_and_regularly() -> None:
    traffic = EnforcementTraffic(overload_share=0.35, seed=1)
    trucks = [traffic.truck(START + timedelta(seconds=3 * i)) for i in range(60)]
    excess = [t.gvw_kg / JBI_CONFIGURATIONS[t.vehicle_class or ""][0] - 1 for t in trucks]
    band = rule("odol-km13")
    assert isinstance(band, OdolRule)
    must_unload = max(b.above_pct for b in band.bands) / 100
    assert excess[1] > must_unload  # the second truck already pages the enforcement bay
    assert sum(e > must_unload for e in excess) == 10
    assert any(0.05 < e <= must_unload for e in excess)  # ordinary overloads too
    for truck in trucks:  # scaled trucks are still valid records (sum of axles = GVW)
        assert VehicleRecord.model_validate(truck.model_dump()) == truck
        assert truck.gvw_kg == pytest.approx(sum(a.load_kg for a in truck.axles))


def test_the_demo_files_load_as_the_field_loads_them(tmp_path: Path) -> None:
    links = Links(
        serial={"rs485-1": Path("/dev/pts/98"), "weighbridge-rs232": Path("/dev/pts/99")},
        tcp={"ampal-mufakat-tcp": 15020, "wim-link": 14001},
    )
    files = write_demo_files(
        tmp_path, links, Broker("127.0.0.1", 18830, 311), api_port=18000, influx_url=None
    )
    sites = {site.site: site for site, _path in files.sites}
    ampal = sites["ampal-mufakat"]
    buses = {bus.id: bus for bus in ampal.buses}
    assert isinstance(buses["rs485-1"], ModbusBusSpec) and isinstance(
        buses["ampal-mufakat-tcp"], ModbusBusSpec
    )
    assert [d.id for d in buses["rs485-1"].devices] == ["wl-radar", "rain"]
    assert [d.id for d in buses["ampal-mufakat-tcp"].devices] == ["wl-pressure"]
    assert buses["rs485-1"].devices[0].params == {"mounting_height_m": 6.20}  # survey figures kept
    km13 = {bus.id: bus for bus in sites["soekarno-hatta-km13"].buses}
    assert isinstance(km13["weighbridge-rs232"], RecordStreamSpec)
    assert km13["weighbridge-rs232"].connection.kind == "serial"
    for site in sites.values():
        assert site.mqtt.username == site.gateway and site.mqtt.protocol == 311 and not site.mqtt.tls
        assert site.outbox.path.is_relative_to(tmp_path)
    backend = files.backend
    assert backend.rules is not None and backend.api is not None
    assert backend.rules.file.is_relative_to(tmp_path) and backend.sites == tmp_path / "sites"
    assert backend.api.public == PUBLIC_ROUTES
    assert backend.api.keys[0].digest() == hashlib.sha256(files.operator_key.encode()).hexdigest()
    assert backend.storage.backend == "sqlite"
    levels = rule("ampal-muka-air")
    assert isinstance(levels, LevelsRule) and levels.pending == timedelta(seconds=10)
