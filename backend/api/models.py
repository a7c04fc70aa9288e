"""Response and request bodies: the API's published shapes (OpenAPI is generated from these).

Times are RFC 3339 strings in UTC (`...Z`). Absent values are `null`, never left out, so a client's
schema does not depend on what a device happened to send.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FieldValue = float | int | str | bool
#: Free text from people: printable, line breaks and tabs allowed, no other control characters.
TEXT_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f]+$"


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- inventory -------------------------------------------------------------------------------------------
class Channel(Out):
    id: str
    unit: str | None
    quantity: str | None


class Device(Out):
    id: str
    site: str
    profile: str
    kind: Literal["modbus", "records"]
    source: str | None = Field(description="wim / weighbridge for record streams")
    enabled: bool
    poll_interval_s: float | None
    channels: list[Channel]
    last_contact: str | None = Field(description="Time of the device's latest data or status")
    status: str | None = Field(description="Latest communication state reported by the gateway")
    rejected_total: int | None = Field(
        default=None,
        description="Record streams: frames the gateway's driver refused since it started (its latest "
        "count); samples are in the dead-letter store",
    )


class Site(Out):
    id: str
    name: str
    kind: str
    lat: float
    lon: float
    elevation_m: float | None
    road_class: str | None
    gateway: str
    tags: list[str]
    devices: list[str]


class SiteList(Out):
    sites: list[Site]


class DeviceList(Out):
    devices: list[Device]


# --- latest ----------------------------------------------------------------------------------------------
#: A reading's value as the device gave it: an integer reading (a counter, a code, a bit) is an exact
#: integer, beyond 2**53 too (up to int64); anything else a number.
_VALUE = "The reading's value: an exact integer for integer readings, else a number"


class AlertLevel(Out):
    rule: str
    alert_id: str
    state: str
    level: str | None
    severity: int


class Latest(Out):
    site: str
    device: str
    channel: str
    time: str
    value: int | float | None = Field(description=_VALUE)
    text: str | None
    unit: str | None
    quantity: str | None
    quality: str | None
    reason: str | None
    alert: AlertLevel | None = Field(description="The most severe active alert on this channel")


class LatestList(Out):
    latest: list[Latest]


# --- series ----------------------------------------------------------------------------------------------
class SeriesRow(Out):
    time: str
    value: int | float | None = Field(description=_VALUE)
    quality: str | None = Field(description="Raw rows only; aggregates use good and suspect values")


class SeriesData(Out):
    site: str
    device: str
    channel: str
    unit: str | None
    rows: list[SeriesRow]


class SeriesPage(Out):
    start: str
    end: str
    every: str | None
    agg: str | None
    tz: str
    series: list[SeriesData]
    next: str | None = Field(description="The next page (same query from where this one stopped)")


# --- vehicles --------------------------------------------------------------------------------------------
class AxleOut(Out):
    load_kg: float
    tyres: str | None = None
    spacing_m: float | None = None


class VehicleOut(Out):
    time: str
    site: str
    device: str
    source: str | None
    lane: int | None
    direction: str | None
    vehicle_class: str | None
    axle_configuration: str | None = Field(
        description="JBI notation (1-2.2: single steer, dual tandem): as reported by the scale, or from its "
        "axle groups with the tyres assumed where it reports no tyres (`configuration_inferred`)"
    )
    configuration_inferred: bool | None = Field(
        description="true: the tyres were assumed (single steer, dual otherwise); null: no configuration"
    )
    record_id: str | None
    gvw_kg: float | None
    speed_kmh: float | None
    axle_count: int | None
    axles: list[AxleOut]
    length_m: float | None
    width_m: float | None
    height_m: float | None
    quality: str | None
    verdict: str | None
    verdict_reason: str | None = Field(
        description="Why the verdict is `unknown` (e.g. axle_configuration_unknown, road_class_unknown)"
    )
    overloaded: bool | None
    over_dimension: bool | None
    jbi_kg: float | None
    excess_kg: float | None
    excess_pct: float | None
    band: str | None
    esal: float | None = Field(description="Equivalent 8.16 t standard axle loads (fourth-power law)")


class VehiclePage(Out):
    start: str
    end: str
    vehicles: list[VehicleOut]
    next: str | None


class VehicleBucket(Out):
    time: str
    vehicles: int
    judged: int = Field(description="Vehicles with an overload verdict")
    overloaded: int
    overload_share: float | None = Field(description="overloaded / judged")
    over_dimension: int
    excess_t: float = Field(description="Tonnes over JBI, summed over overloaded vehicles")
    gvw_t: float
    esal: float = Field(description="Road wear in equivalent 8.16 t standard axle loads")


class VehicleStats(Out):
    start: str
    end: str
    every: str
    tz: str
    buckets: list[VehicleBucket]


# --- alerts ----------------------------------------------------------------------------------------------
class AcknowledgementOut(Out):
    by: str = Field(description="Who acted, as the caller stated it (the key's name when not stated)")
    at: str
    note: str | None
    key: str | None = Field(
        description="The API key that recorded it (null for acknowledgements stored before keys were kept)"
    )


class AlertOut(Out):
    time: str
    alert_id: str
    site: str
    rule: str
    device: str | None
    channel: str | None
    state: str
    level: str | None
    severity: int | None
    value: float | None
    threshold: float | None
    unit: str | None
    message: str | None
    started_at: str | None
    acknowledgement: AcknowledgementOut | None


class AlertList(Out):
    alerts: list[AlertOut]
    next: str | None = None


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Operator's name; defaults to the API key's name",
    )
    note: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$"
    )


# --- citizen reports -------------------------------------------------------------------------------------
class ReportIn(BaseModel):
    """A resident's flood report."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    depth_cm: float = Field(ge=0, le=500, allow_inf_nan=False, description="Water depth where they stand")
    observed_at: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$",
        description="RFC 3339 with zone; default: when received",
    )
    note: str | None = Field(
        default=None, min_length=1, max_length=500, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$"
    )
    photo_url: str | None = Field(
        default=None, max_length=2048, pattern=r"^https://[^\s\x00-\x1f\x7f<>\"]+$", description="https only"
    )


class NearbyGauge(Out):
    site: str
    name: str
    distance_km: float
    device: str | None
    channel: str | None
    time: str | None
    value: float | None
    unit: str | None
    quality: str | None


class ReportOut(Out):
    id: str
    received_at: str
    observed_at: str
    lat: float
    lon: float
    depth_cm: float
    note: str | None
    photo_url: str | None
    reporter: str
    nearby: list[NearbyGauge] = Field(description="Gauges within the radius, their water level at the time")


class ReportList(Out):
    reports: list[ReportOut]
    next: str | None


# --- health ----------------------------------------------------------------------------------------------
class Health(Out):
    status: Literal["ok", "failing"]
    checks: dict[str, Any] = {}
