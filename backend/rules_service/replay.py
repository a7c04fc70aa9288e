"""Replay: re-run a rules file over stored history and collect the transitions it would have produced.

Stored points are turned back into contract messages (readings, vehicles, gateway and device status) and
fed to a fresh engine in time order, each at its own timestamp, with clock ticks in between, so tuning a
threshold against a past flood behaves as it would have live. Nothing is written or published.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError

from backend.rules import RuleEngine
from backend.storage.model import ALL_TAGS, FieldValue, SeriesQuery, Storage
from backend.storage.schema import DEVICE_STATUS, GATEWAY_STATUS, READING, VEHICLE
from pantau.contract import (
    AlertTransition,
    Axle,
    DeviceStatus,
    GatewayStatus,
    Message,
    Reading,
    Readings,
    Vehicle,
)

logger = logging.getLogger(__name__)

#: History is read in slices this long, so a replay over months never holds it all at once.
SLICE: Final = timedelta(hours=6)
READING_FIELDS: Final = ("value", "text", "unit", "quality", "reason", "detail", "seq", "gateway")
VEHICLE_FIELDS: Final = (
    "gvw_kg", "axles", "groups", "speed_kmh", "record_id", "error_code", "quality", "reason", "seq",
    "gateway",
)  # fmt: skip
GATEWAY_FIELDS: Final = ("state", "reason", "software_version", "started_at", "seq", "gateway")
DEVICE_FIELDS: Final = (
    "state", "since", "last_success", "consecutive_failures", "reason", "detail", "requests_total",
    "errors_total", "latency_ms", "rejected_total", "seq", "gateway",
)  # fmt: skip


@dataclass
class ReplayResult:
    transitions: list[AlertTransition] = field(default_factory=list)
    messages: int = 0
    #: Stored points that no longer make a valid message (e.g. written by an older schema), by measurement.
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def replay(
    engine: RuleEngine, storage: Storage, start: datetime, end: datetime, tick: timedelta
) -> ReplayResult:
    """Feed `engine` everything stored in [start, end) in time order, ticking every `tick` of history."""
    result = ReplayResult()
    next_tick = start + tick
    async for message in history(storage, start, end, result.skipped):
        while next_tick <= message.ts:
            result.transitions += engine.tick(next_tick)
            next_tick += tick
        result.transitions += _evaluate(engine, message)
        result.messages += 1
    while next_tick <= end:
        result.transitions += engine.tick(next_tick)
        next_tick += tick
    return result


def _evaluate(engine: RuleEngine, message: Message) -> list[AlertTransition]:
    now = message.ts  # in replay a message arrives when it was read
    if isinstance(message, Readings):
        return engine.on_readings(message, now).transitions
    if isinstance(message, Vehicle):
        return engine.on_vehicle(message, now).transitions
    if isinstance(message, GatewayStatus):
        return engine.on_gateway_status(message, now)
    if isinstance(message, DeviceStatus):
        return engine.on_device_status(message, now)
    return []


async def history(
    storage: Storage, start: datetime, end: datetime, skipped: dict[str, int]
) -> AsyncIterator[Message]:
    """Stored messages in [start, end), oldest first (on a tie: readings, vehicles, then status)."""
    since = start
    while since < end:
        until = min(since + SLICE, end)
        kinds = [
            _readings(await _rows(storage, READING, READING_FIELDS, since, until), skipped),
            _vehicles(await _rows(storage, VEHICLE, VEHICLE_FIELDS, since, until), skipped),
            _gateway_status(await _rows(storage, GATEWAY_STATUS, GATEWAY_FIELDS, since, until), skipped),
            _device_status(await _rows(storage, DEVICE_STATUS, DEVICE_FIELDS, since, until), skipped),
        ]
        for message in heapq.merge(*(sorted(k, key=_when) for k in kinds), key=_when):
            yield message
        since = until


def _when(message: Message) -> datetime:
    return message.ts


Values = Mapping[str, FieldValue | None]
Rows = list[tuple[Mapping[str, str], datetime, Values]]


async def _rows(
    storage: Storage, measurement: str, fields: tuple[str, ...], start: datetime, end: datetime
) -> Rows:
    found = await storage.query(SeriesQuery(measurement, fields, start, end, group_by=ALL_TAGS))
    return [(series.tags, row.time, row.values) for series in found for row in series.rows]


def _readings(rows: Rows, skipped: dict[str, int]) -> list[Message]:
    polls: dict[tuple[str, str, datetime], list[tuple[str, Values]]] = defaultdict(list)
    for tags, at, values in rows:
        if values.get("quality") is None:
            continue  # only the rules engine's own fields so far: not an ingested reading
        polls[(tags["site"], tags["device"], at)].append((tags["channel"], values))
    out: list[Message] = []
    for (site, device, at), channels in polls.items():
        first = channels[0][1]
        try:
            out.append(
                Readings(
                    site=site,
                    device=device,
                    ts=at,
                    gateway=first["gateway"],
                    seq=first["seq"],
                    channels={name: _reading(values) for name, values in channels},
                )
            )
        except (ValidationError, KeyError, TypeError, ValueError):
            skipped[READING] += 1
    return out


def _reading(values: Values) -> Reading:
    keys = ("value", "text", "unit", "quality", "reason", "detail")
    return Reading.model_validate({k: values[k] for k in keys if values.get(k) is not None})


def _vehicles(rows: Rows, skipped: dict[str, int]) -> list[Message]:
    out: list[Message] = []
    for tags, at, values in rows:
        present = {k: v for k, v in values.items() if v is not None}
        try:
            document: dict[str, Any] = {
                "site": tags["site"],
                "device": tags["device"],
                "source": tags["source"],
                "ts": at,
                **{k: present[k] for k in ("gvw_kg", "seq", "gateway")},
                **_optional(present, ("speed_kmh", "record_id", "error_code", "quality", "reason")),
                **_optional(tags, ("direction", "vehicle_class")),
            }
            if tags.get("lane"):
                document["lane"] = int(tags["lane"])
            if "axles" in present:
                document["axles"] = [Axle.model_validate(a) for a in json.loads(str(present["axles"]))]
            if "groups" in present:
                document["groups"] = [int(size) for size in str(present["groups"]).split(",")]
            out.append(Vehicle.model_validate(document))
        except (ValidationError, KeyError, TypeError, ValueError):
            skipped[VEHICLE] += 1
    return out


def _gateway_status(rows: Rows, skipped: dict[str, int]) -> list[Message]:
    return _status(GatewayStatus, GATEWAY_STATUS, rows, skipped, ())


def _device_status(rows: Rows, skipped: dict[str, int]) -> list[Message]:
    return _status(DeviceStatus, DEVICE_STATUS, rows, skipped, ("device",))


def _status(
    model: type[GatewayStatus] | type[DeviceStatus],
    measurement: str,
    rows: Rows,
    skipped: dict[str, int],
    tag_fields: tuple[str, ...],
) -> list[Message]:
    out: list[Message] = []
    for tags, at, values in rows:
        document = {"site": tags.get("site"), "ts": at, **_optional(tags, tag_fields)}
        document |= {k: v for k, v in values.items() if v is not None}
        try:
            out.append(model.model_validate(document))
        except ValidationError:
            skipped[measurement] += 1
    return out


def _optional(source: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: source[k] for k in keys if source.get(k) not in (None, "")}
