"""Stored points as their readers take them: typed records whose names are written once, here, beside the
schema that writes the points (`schema.py`).

A `StoredVehicle` is one `vehicle` point (`schema.vehicle_point`, with the rules engine's verdict fields)
read back: its tags and the fields a reader may ask for, each with its type. The query's field list
(`VEHICLE_FIELDS`) and the conversion of every cell come from the record itself, so a field added to the
record is queried and typed without another list to keep in step. Cells of another type than the record's
(a point written by an older schema) read as absent, never as an error.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from backend.storage.model import FieldValue, Row


def as_float(value: FieldValue | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_int(value: FieldValue | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def as_str(value: FieldValue | None) -> str | None:
    return value if isinstance(value, str) else None


def as_bool(value: FieldValue | None) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class StoredVehicle:
    """One stored vehicle: tags first (as `vehicle_point` writes them), then fields (None: not stored)."""

    time: datetime
    site: str
    device: str
    source: str | None
    lane: int | None
    direction: str | None
    vehicle_class: str | None
    #: As the scale reported it (a tag); the one the JBI was looked up for is `jbi_configuration`.
    axle_configuration: str | None
    record_id: str | None
    gvw_kg: float | None
    speed_kmh: float | None
    axle_count: int | None
    #: The axles as stored: a JSON list of {load_kg, tyres, spacing_m}.
    axles: str | None
    length_m: float | None
    width_m: float | None
    height_m: float | None
    quality: str | None
    verdict: str | None
    verdict_reason: str | None
    overloaded: bool | None
    over_dimension: bool | None
    jbi_kg: float | None
    excess_kg: float | None
    excess_pct: float | None
    band: str | None
    esal: float | None
    jbi_configuration: str | None
    configuration_inferred: bool | None


VEHICLE_TAGS: Final = ("site", "device", "source", "lane", "direction", "vehicle_class", "axle_configuration")

_READERS: Final[dict[type, Callable[[FieldValue | None], object]]] = {
    float: as_float,
    int: as_int,
    str: as_str,
    bool: as_bool,
}


def _field_readers(record: type) -> dict[str, Callable[[FieldValue | None], object]]:
    """Each field of `record` (past the time and the tags) with the reader of its type (`float | None`)."""
    hints = typing.get_type_hints(record)
    readers = {}
    for item in dataclasses.fields(record):
        if item.name == "time" or item.name in VEHICLE_TAGS:
            continue
        hint = hints[item.name]
        (kind,) = [t for t in typing.get_args(hint) if t is not types.NoneType] or [hint]
        readers[item.name] = _READERS[kind]
    return readers


_VEHICLE_READERS: Final = _field_readers(StoredVehicle)
#: The fields a query for `StoredVehicle`s asks for.
VEHICLE_FIELDS: Final = tuple(_VEHICLE_READERS)


def read_vehicle(row: Row, tags: Mapping[str, str]) -> StoredVehicle:
    """A vehicle row of a query for `VEHICLE_FIELDS`, with the tags of its series."""
    lane = tags.get("lane", "")
    return StoredVehicle(
        time=row.time,
        site=tags.get("site", ""),
        device=tags.get("device", ""),
        source=tags.get("source") or None,
        lane=int(lane) if lane.isdigit() else None,
        direction=tags.get("direction") or None,
        vehicle_class=tags.get("vehicle_class") or None,
        axle_configuration=tags.get("axle_configuration") or None,
        **{name: read(row.values.get(name)) for name, read in _VEHICLE_READERS.items()},  # type: ignore[arg-type]
    )
