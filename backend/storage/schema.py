"""The time-series schema: which measurement, tags and fields each contract message becomes.

Chosen for the queries the API and Grafana run (docs/storage.md has the full table):

- Tags are only ids from the contract's slug alphabet and small enumerations (lane, direction, class,
  axle configuration), so tag cardinality is bounded by the inventory, never by the data.
- A measured number is always a float field, a counter always an int, so InfluxDB never sees a field
  type conflict.
- The point time is the time the gateway read the value (`ts`), so a replayed message lands on the same
  series and timestamp and overwrites itself: storage is idempotent under at-least-once delivery.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from backend.storage.model import FieldValue, Point, RetentionClass
from pantau.contract import AlertTransition, DeviceStatus, GatewayStatus, Message, Quality, Readings, Vehicle
from pantau.contract.fast import WireReadings

READING: Final = "reading"
VEHICLE: Final = "vehicle"
GATEWAY_STATUS: Final = "gateway_status"
DEVICE_STATUS: Final = "device_status"
ALERT: Final = "alert"
READING_1M: Final = "reading_1m"
READING_1H: Final = "reading_1h"
#: Each backend worker's heartbeat: Grafana alerts on its absence (the backend cannot alert on itself).
BACKEND_STATUS: Final = "backend_status"
#: Each ODOL verdict once more, tagged by the axle configuration it was judged as and the verdict.
#: InfluxQL groups by tags only, and the vehicle's own `axle_configuration` tag is the *reported* one, absent
#: for every WIM record without tyre data (most of them): "violations by configuration" reads this instead.
VEHICLE_VERDICT: Final = "vehicle_verdict"
#: WIM scale drift: the rolling median steering-axle weight against its reference (rules engine).
SCALE_DRIFT: Final = "scale_drift"
#: Residents' flood reports, posted through the API (docs/storage.md "Citizen reports").
CITIZEN_REPORT: Final = "citizen_report"
#: Vehicles summed per UTC hour and vehicle series, so statistics over months read hours, not vehicles
#: (backend/api/vehicle_stats.py), and how far that rollup has got (`through_ns`, one point a day).
VEHICLE_1H: Final = "vehicle_1h"
VEHICLE_ROLLUP_STATE: Final = "vehicle_rollup_state"

RETENTION: Final = {
    READING: RetentionClass.RAW,
    GATEWAY_STATUS: RetentionClass.RAW,
    DEVICE_STATUS: RetentionClass.RAW,
    VEHICLE: RetentionClass.LONG,
    VEHICLE_VERDICT: RetentionClass.LONG,
    ALERT: RetentionClass.LONG,
    READING_1M: RetentionClass.LONG,
    READING_1H: RetentionClass.LONG,
    CITIZEN_REPORT: RetentionClass.LONG,
    SCALE_DRIFT: RetentionClass.LONG,
    VEHICLE_1H: RetentionClass.LONG,
    VEHICLE_ROLLUP_STATE: RetentionClass.LONG,
    BACKEND_STATUS: RetentionClass.RAW,
}

#: Device states as numbers, so Grafana can draw a state timeline and alert on "worse than ok".
DEVICE_STATE_CODES: Final = {"ok": 0, "degraded": 1, "failing": 2, "disabled": 3}


def time_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch, exactly (contract timestamps have microsecond resolution)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_EPOCH: Final = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def to_points(message: Message) -> list[Point]:
    """The points a validated message is stored as (alert transitions are stored by the rules engine)."""
    if isinstance(message, Readings):
        return readings_points(message)
    if isinstance(message, Vehicle):
        return [vehicle_point(message)]
    if isinstance(message, GatewayStatus):
        return [gateway_status_point(message)]
    if isinstance(message, DeviceStatus):
        return [device_status_point(message)]
    return []


def readings_points(message: Readings) -> list[Point]:
    # The hottest code of ingest (a point per channel of every poll): attribute look-ups hoisted, quality
    # fields precomputed; the points are exactly those of the plain version (same fields, same order).
    at = time_ns(message.ts)
    site, device, seq, gateway = message.site, message.device, message.seq, message.gateway
    points = []
    for channel, reading in message.channels.items():
        quality, flag = _QUALITY_FIELDS[reading.quality]
        fields: dict[str, FieldValue] = {"quality": quality, "qc_flag": flag, "seq": seq, "gateway": gateway}
        if reading.value is not None:
            fields["value"] = float(reading.value)
            if type(reading.value) is int:  # exact as well: a float holds integers only up to 2**53
                fields["value_int"] = reading.value
        if reading.text is not None:
            fields["text"] = reading.text
        if reading.unit is not None:
            fields["unit"] = reading.unit
        if reading.reason is not None:
            fields["reason"] = reading.reason
        if reading.detail is not None:
            fields["detail"] = reading.detail
        points.append(Point(READING, {"site": site, "device": device, "channel": channel}, fields, at))
    return points


_QUALITY_FIELDS: Final = {quality: (quality.value, quality.qartod_flag) for quality in Quality}


def wire_readings_points(message: WireReadings, at: datetime, lines: list[str] | None = None) -> list[Point]:
    """`readings_points` of a message taken by the contract's fast path (pantau/contract/fast.py): the
    same points, built from the wire structs without a contract model in between; `lines`, given, are
    their line protocol, one per channel in order (influx.line_protocol.reading_lines)."""
    at_ns = time_ns(at)
    site, device, seq, gateway = message.site, message.device, message.seq, message.gateway
    points = []
    for index, (channel, reading) in enumerate(message.channels.items()):
        quality, flag = _QUALITY_FIELDS[reading.quality]  # type: ignore[index]  # a StrEnum's value is its key
        fields: dict[str, FieldValue] = {"quality": quality, "qc_flag": flag, "seq": seq, "gateway": gateway}
        value = reading.value
        if value is not None:
            fields["value"] = float(value)
            if type(value) is int:
                fields["value_int"] = value
        if reading.text is not None:
            fields["text"] = reading.text
        if reading.unit is not None:
            fields["unit"] = reading.unit
        if reading.reason is not None:
            fields["reason"] = reading.reason
        if reading.detail is not None:
            fields["detail"] = reading.detail
        line = lines[index] if lines is not None else None
        points.append(
            Point(READING, {"site": site, "device": device, "channel": channel}, fields, at_ns, line)
        )
    return points


def vehicle_point(message: Vehicle, verdict: dict[str, FieldValue] | None = None) -> Point:
    """One vehicle; the rules engine passes its ODOL verdict fields so the record is stored with them."""
    tags = {"site": message.site, "device": message.device, "source": message.source}
    if message.lane is not None:
        tags["lane"] = str(message.lane)
    _put(tags, "direction", message.direction)
    _put(tags, "vehicle_class", message.vehicle_class)
    _put(tags, "axle_configuration", message.axle_configuration)
    fields: dict[str, FieldValue] = {
        "gvw_kg": float(message.gvw_kg),
        "axle_count": len(message.axles),
        "quality": message.quality.value,
        "seq": message.seq,
        "gateway": message.gateway,
    }
    if message.axles:
        loads = [axle.load_kg for axle in message.axles]
        fields["steer_axle_kg"] = float(loads[0])
        fields["max_axle_kg"] = float(max(loads))
        fields["axles"] = json.dumps(
            [axle.model_dump(mode="json", exclude_none=True) for axle in message.axles], separators=(",", ":")
        )
    if message.groups is not None:
        fields["groups"] = ",".join(str(size) for size in message.groups)
    if message.speed_kmh is not None:
        fields["speed_kmh"] = float(message.speed_kmh)
    if message.dimensions is not None:
        for name in ("length_m", "width_m", "height_m"):
            value = getattr(message.dimensions, name)
            if value is not None:
                fields[name] = float(value)
    _put(fields, "record_id", message.record_id)
    _put(fields, "error_code", message.error_code)
    _put(fields, "reason", message.reason)
    fields.update(verdict or {})
    return Point(VEHICLE, tags, fields, time_ns(message.ts))


def vehicle_verdict_point(
    message: Vehicle, *, verdict: str, configuration: str | None, excess_kg: float | None, esal: float | None
) -> Point:
    """The verdict on one vehicle (same site, device, lane and time as its `vehicle` point), tagged by the
    configuration judged (`unknown` when none could be told): a handful of values, so the tag stays
    bounded. The verdict itself is a field, so a vehicle judged again (a replay under edited rules)
    overwrites its point instead of adding one in another series and being counted twice."""
    tags = {"site": message.site, "device": message.device, "configuration": configuration or "unknown"}
    if message.lane is not None:
        tags["lane"] = str(message.lane)  # two lanes can weigh at the same instant
    fields: dict[str, FieldValue] = {"gvw_kg": float(message.gvw_kg), "verdict": verdict}
    if excess_kg is not None:
        fields["excess_kg"] = float(excess_kg)
    if esal is not None:
        fields["esal"] = float(esal)
    return Point(VEHICLE_VERDICT, tags, fields, time_ns(message.ts))


def qc_point(message: Readings, channel: str, flag: int, reason: str | None) -> Point:
    """The backend's QC verdict on one reading, merged onto its `reading` point (same series and time) as
    fields of their own: the gateway's flag stays in `quality`/`qc_flag`, and ingest and rules write in no
    particular order, so sharing a field would let the older verdict win."""
    fields: dict[str, FieldValue] = {"qc": flag}
    _put(fields, "qc_reason", reason)
    tags = {"site": message.site, "device": message.device, "channel": channel}
    return Point(READING, tags, fields, time_ns(message.ts))


def scale_drift_point(
    *,
    site: str,
    device: str,
    rule: str,
    at: datetime,
    samples: int,
    median_kg: float,
    reference_kg: float,
    drift_pct: float,
) -> Point:
    """One WIM drift update: the rolling median steering-axle weight, its reference and the drift in %."""
    fields: dict[str, FieldValue] = {
        "median_kg": float(median_kg),
        "reference_kg": float(reference_kg),
        "drift_pct": float(drift_pct),
        "samples": samples,
    }
    return Point(SCALE_DRIFT, {"site": site, "device": device, "rule": rule}, fields, time_ns(at))


def backend_status_point(worker: str, at: datetime, fields: dict[str, FieldValue]) -> Point:
    """One heartbeat of a backend worker: `up` 1 and its ingest figures at `at`."""
    return Point(BACKEND_STATUS, {"worker": worker}, {"up": 1, **fields}, time_ns(at))


def gateway_status_point(message: GatewayStatus) -> Point:
    fields: dict[str, FieldValue] = {
        "state": message.state,
        "online": 1 if message.state == "online" else 0,
        "seq": message.seq,
        "gateway": message.gateway,
    }
    _put(fields, "reason", message.reason)
    _put(fields, "software_version", message.software_version)
    if message.started_at is not None:
        fields["started_at"] = message.started_at.isoformat()
    if message.outbox is not None:
        fields["outbox_depth"] = message.outbox.depth
        fields["outbox_dropped_total"] = message.outbox.dropped_total
        if message.outbox.oldest_ts is not None:
            fields["outbox_age_s"] = max(0.0, (message.ts - message.outbox.oldest_ts).total_seconds())
    if message.clock is not None:  # the gateway's verdict on its own clock (docs/contract.md "Time")
        fields["clock_plausible"] = 1 if message.clock.plausible else 0
        _put(fields, "clock_reason", message.clock.reason)
        if message.clock.step_s is not None:
            fields["clock_step_s"] = float(message.clock.step_s)
    return Point(GATEWAY_STATUS, {"site": message.site}, fields, time_ns(message.ts))


def device_status_point(message: DeviceStatus) -> Point:
    fields: dict[str, FieldValue] = {
        "state": message.state,
        "state_code": DEVICE_STATE_CODES[message.state],
        "since": message.since.isoformat(),
        "consecutive_failures": message.consecutive_failures,
        "requests_total": message.requests_total,
        "errors_total": message.errors_total,
        "discarded_replies_total": message.discarded_replies_total,
        "seq": message.seq,
        "gateway": message.gateway,
    }
    if message.last_success is not None:
        fields["last_success"] = message.last_success.isoformat()
    if message.latency_ms is not None:
        fields["latency_ms"] = float(message.latency_ms)
    if message.rejected_total is not None:  # record streams only
        fields["rejected_total"] = message.rejected_total
    _put(fields, "reason", message.reason)
    _put(fields, "detail", message.detail)
    tags = {"site": message.site, "device": message.device}
    return Point(DEVICE_STATUS, tags, fields, time_ns(message.ts))


def alert_point(transition: AlertTransition) -> Point:
    """One alert transition (the history the API and Grafana annotations read). Time = when it happened;
    `seq` in the tags would explode cardinality, so two transitions of one alert never share a timestamp
    (the engine's clock moves forward between them)."""
    fields: dict[str, FieldValue] = {
        "alert_id": transition.alert_id,
        "state": transition.state,
        "severity": transition.severity,
        "seq": transition.seq,
        "source": transition.source,
        "message": transition.message,
        "started_at": transition.started_at.isoformat(),
        "firing": 1 if transition.state == "firing" else 0,
    }
    _put(fields, "previous_state", transition.previous_state)
    _put(fields, "level", transition.level)
    _put(fields, "previous_level", transition.previous_level)
    _put(fields, "unit", transition.unit)
    if transition.value is not None:
        fields["value"] = float(transition.value)
    if transition.threshold is not None:
        fields["threshold"] = float(transition.threshold)
    if transition.acknowledgement is not None:
        fields["acknowledged_by"] = transition.acknowledgement.by
        fields["acknowledged_at"] = transition.acknowledgement.at.isoformat()
        _put(fields, "acknowledgement_note", transition.acknowledgement.note)
        _put(fields, "acknowledged_key", transition.acknowledgement.key)
    tags = {"site": transition.site, "rule": transition.rule}
    _put(tags, "device", transition.device)
    _put(tags, "channel", transition.channel)
    return Point(ALERT, tags, fields, time_ns(transition.ts))


def _put(target: dict[str, FieldValue] | dict[str, str], key: str, value: str | None) -> None:
    if value is not None:
        target[key] = value
