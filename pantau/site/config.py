"""Site config: one YAML per gateway site (firmware_configs/sites/*.yaml).

It names the site and gateway, says how to reach the broker, where the outbox lives, and lists the buses
with the devices on each. Device profiles are referenced by id (shipped) or path (relative to the file).
Errors name the file, the bus, the device and the field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pantau.config import Duration, load_yaml_model
from pantau.config.mqtt import MqttConnection
from pantau.contract.fields import Slug
from pantau.contract.topics import RESERVED_SITE_IDS
from pantau.site.connections import BusConfig, BusTiming, Endpoint

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(value: object) -> object:
    """`512MB`, `2GiB`, `1000000` -> bytes."""
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if not match:
            raise ValueError(f"size {value!r} is not like '512MB' or '2GiB'")
        return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    return value


class SiteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(SiteModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    elevation_m: float | None = None


class MqttConfig(MqttConnection):
    """The broker connection (client id defaults to the gateway id), the backlog replay rate, and how often
    a message the broker refuses is tried before it is set aside as a dead letter."""

    replay_rate: float = Field(default=200.0, gt=0, description="Backlog messages per second after an outage")
    dead_letter_after: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Refusals (MQTT v5 PUBACK reason code >= 0x80, e.g. 0x87 not authorized) after which a "
        "message moves to the outbox's dead letters; retried with back-off until then",
    )
    await_receipts: bool = Field(
        default=True,
        description="Keep each message after the broker's PUBACK until the backend's receipt says it is "
        "stored (end-to-end acknowledgement); false where no pantau backend reads this broker",
    )
    receipt_grace: Duration = Field(
        default=timedelta(seconds=60),
        description="A message acknowledged by the broker this much before one a receipt confirms, and "
        "itself unconfirmed, was lost on the way to the backend: it is sent again",
    )
    receipt_resends: int = Field(
        default=3, ge=0, le=100, description="How often one message is sent again for want of a receipt"
    )
    receipt_window: Duration = Field(
        default=timedelta(days=7),
        description="How long a message waits for its receipt before it is let go (counted)",
    )

    @model_validator(mode="after")
    def _grace_within_window(self) -> MqttConfig:
        if not timedelta(seconds=1) <= self.receipt_grace < self.receipt_window:
            raise ValueError(
                f"receipt_grace ({self.receipt_grace}) must be at least 1 s and below receipt_window "
                f"({self.receipt_window})"
            )
        return self

    @property
    def outbox_receipt_window(self) -> timedelta | None:
        """The outbox's `receipt_window`: how long it keeps an acknowledged message for its receipt, or None
        (delete at the PUBACK) when receipts are not awaited. The gateway's publisher refuses an outbox
        opened otherwise."""
        return self.receipt_window if self.await_receipts else None


class OutboxConfig(SiteModel):
    path: Path = Path("/var/lib/pantau/outbox.db")
    max_size: Annotated[int, Field(ge=1_000_000)] = 512 * 1000**2
    max_age: Duration = timedelta(days=14)

    _parse_size = field_validator("max_size", mode="before")(parse_size)


class ReportOnChange(SiteModel):
    """Publish a channel only when it moved by more than `deadband`, but at least every `heartbeat` polls."""

    deadband: dict[Slug, float] = Field(description="Channel -> smallest change worth publishing")
    heartbeat: int = Field(default=10, ge=1, le=10_000)


class DeviceConfig(SiteModel):
    id: Slug
    profile: str = Field(min_length=1, description="Shipped profile id or a path relative to this file")
    unit: int | None = Field(
        default=None, ge=0, le=255, description="Modbus unit id (default: the profile's)"
    )
    poll_interval: Duration = timedelta(seconds=10)
    params: dict[Slug, float] = Field(
        default={}, description="Site parameters: mounting_height_m, datum_m, ..."
    )
    address_base: Literal[0, 1] | None = None
    enabled: bool = True
    report_on_change: ReportOnChange | None = None

    @field_validator("poll_interval")
    @classmethod
    def _sane_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(milliseconds=100):
            raise ValueError("poll_interval below 100ms would flood the bus")
        return value


class ModbusBusSpec(SiteModel):
    id: Slug
    kind: Literal["modbus"] = "modbus"
    connection: BusConfig
    timing: BusTiming = BusTiming()
    devices: Annotated[list[DeviceConfig], Field(min_length=1, max_length=247)]

    @model_validator(mode="after")
    def _unique_units(self) -> ModbusBusSpec:
        units = [d.unit for d in self.devices if d.unit is not None and d.enabled]
        duplicates = sorted({u for u in units if units.count(u) > 1})
        if duplicates:
            raise ValueError(f"unit ids {duplicates} are used by more than one enabled device on this bus")
        return self


class RecordStreamSpec(SiteModel):
    """A line-oriented record stream (WIM controller, weighbridge indicator) on a serial port or TCP."""

    id: Slug
    kind: Literal["records"] = "records"
    connection: Endpoint
    device: DeviceConfig
    reject_sample_interval: Duration = Field(
        default=timedelta(minutes=10),
        description="Refused frames go to the backend as samples: the first of each kind (reason and "
        "field), then at most one per kind per this interval, however fast a broken line babbles",
    )

    @field_validator("reject_sample_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value


BusSpec = Annotated[ModbusBusSpec | RecordStreamSpec, Field(discriminator="kind")]


class SiteConfig(SiteModel):
    site: Slug
    name: str = Field(min_length=1, max_length=128)
    kind: Literal["river_gauge", "rain_gauge", "wim", "weighbridge", "mixed"]
    location: Location
    road_class: Literal["I", "II", "III"] | None = Field(
        default=None, description="For WIM sites (PP 30/2021)"
    )
    gateway: Slug
    mqtt: MqttConfig
    outbox: OutboxConfig = OutboxConfig()
    status_interval: Duration = timedelta(seconds=60)
    buses: Annotated[list[BusSpec], Field(min_length=1)]

    @field_validator("site")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_SITE_IDS:
            raise ValueError(f"site id {value!r} is reserved for the alert topics")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SiteConfig:
        ids = [bus.id for bus in self.buses]
        devices = [d.id for d in self.devices()]
        for what, names in (("bus", ids), ("device", devices)):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{what} ids must be unique: {', '.join(duplicates)}")
        if self.kind in ("wim", "weighbridge") and self.road_class is None:
            raise ValueError("a WIM or weighbridge site needs its road_class (I, II or III)")
        return self

    def devices(self) -> list[DeviceConfig]:
        found: list[DeviceConfig] = []
        for bus in self.buses:
            found.extend(bus.devices if isinstance(bus, ModbusBusSpec) else [bus.device])
        return found


def load_site(path: Path) -> SiteConfig:
    """Read and validate a site file (profiles are resolved separately: `pantau.site.resolve`)."""
    return load_yaml_model(path, SiteConfig)
