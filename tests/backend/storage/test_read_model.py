"""The vehicle read model against the schema that writes vehicles: every name it reads is one the schema
writes, and a judged vehicle stored in SQLite reads back whole, typed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from backend.api.models import VehicleOut
from backend.rules.kinds.odol.config import OdolRule
from backend.rules.kinds.odol.evaluator import judge
from backend.rules.limits import default_jbi, default_road_classes
from backend.storage.model import ALL_TAGS, Point, Retention, SeriesQuery
from backend.storage.read_model import VEHICLE_FIELDS, VEHICLE_TAGS, StoredVehicle, read_vehicle
from backend.storage.schema import VEHICLE, vehicle_point
from backend.storage.sqlite import SqliteStorage
from pantau.contract import Dimensions
from tests.backend.rules.helpers import T0, vehicle

_RULE = OdolRule(id="odol", kind="odol", road_class="II")


def _judged(configuration: str | None, road_class: str | None) -> Point:
    """A truck as stored: `configuration` None reports no tyres (the rule infers them from the groups)."""
    truck = vehicle(
        [6_000, 11_000, 11_000],
        configuration,
        groups=[1, 2],
        record_id="r-1",
        dimensions=Dimensions(length_m=12.5, width_m=2.6, height_m=4.1),
    )
    truck = truck.model_copy(
        update={"lane": 2, "direction": "north", "vehicle_class": "6", "speed_kmh": 54.0}
    )
    verdict = judge(truck, _RULE, road_class, default_jbi(), default_road_classes())
    return vehicle_point(truck, verdict=verdict.fields())


def test_every_name_read_is_one_the_schema_writes() -> None:
    # Reported tyres on a known road; tyres inferred on a road of no known class (verdict_reason).
    points = [_judged("1-2.2", "II"), _judged(None, None)]
    assert set().union(*(point.tags for point in points)) <= set(VEHICLE_TAGS)
    assert set(VEHICLE_FIELDS) <= set().union(*(point.fields for point in points))


def test_the_api_answer_is_the_record_or_says_how_it_differs() -> None:
    stored = {item.name for item in dataclasses.fields(StoredVehicle)}
    assert set(VehicleOut.model_fields) <= stored


async def test_a_stored_vehicle_reads_back_whole_and_typed(tmp_path: Path) -> None:
    point = _judged(None, "II")
    storage = SqliteStorage(
        tmp_path / "db.sqlite3", Retention(raw=timedelta(days=90), long=timedelta(days=365))
    )
    await storage.setup()
    try:
        await storage.write([point])
        query = SeriesQuery(VEHICLE, VEHICLE_FIELDS, T0, T0 + timedelta(seconds=1), group_by=ALL_TAGS)
        [read] = [read_vehicle(row, dict(s.tags)) for s in await storage.query(query) for row in s.rows]
    finally:
        await storage.close()
    written = {name: value for name, value in point.fields.items() if name in VEHICLE_FIELDS}
    assert {name: getattr(read, name) for name in written} == written
    assert all(type(getattr(read, name)) is type(value) for name, value in written.items())
    assert [name for name in VEHICLE_FIELDS if name not in written and getattr(read, name) is not None] == []
    assert (
        read.time,
        read.site,
        read.device,
        read.source,
        read.lane,
        read.direction,
        read.vehicle_class,
    ) == (
        T0,
        point.tags["site"],
        point.tags["device"],
        "wim",
        2,
        "north",
        "6",
    )
    assert (
        read.axle_configuration is None and read.jbi_configuration == "1-2.2" and read.configuration_inferred
    )
