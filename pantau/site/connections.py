"""How a gateway reaches its devices: the `connection:` of each bus in a site file.

A Modbus bus is a serial port (`transport: rtu`) or a TCP device or serial device server (`transport: tcp`,
`framing: socket|rtu`), with its timing; a record stream is a serial port (`kind: serial`) or a TCP socket
(`kind: tcp`). These belong to the site, not the product; the drivers open them
(`drivers.modbus.bus.ModbusBus`, `drivers.serial_records.stream.RecordStream`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, model_validator

from pantau.config import Duration
from pantau.profiles.base import ProfileModel, SerialSettings


class TcpBusConfig(ProfileModel):
    """Modbus TCP, or RTU framing through a serial device server (`framing: rtu`)."""

    transport: Literal["tcp"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=502, ge=1, le=65535)
    framing: Literal["socket", "rtu"] = "socket"


class SerialBusConfig(SerialSettings):
    """Modbus RTU on a serial port (an RS-485 adapter such as /dev/ttyUSB0)."""

    transport: Literal["rtu"]
    port: str = Field(min_length=1, max_length=256)


class BusTiming(ProfileModel):
    """How long a Modbus bus waits for replies, how quiet it keeps between frames, how it reconnects."""

    timeout: Duration = Field(default=timedelta(seconds=1), description="Per request")
    inter_frame_delay: Duration | None = Field(
        default=None,
        ge=timedelta(0),
        le=timedelta(seconds=10),
        description=(
            "Silence before each request; default: 3.5 character times at a serial port's baud rate, "
            "20 ms through a serial device server (framing: rtu), none on Modbus TCP"
        ),
    )
    # 0 by default: on a shared bus a retry doubles what a dead device costs the others, and the next poll
    # is seconds away anyway. Raise it for a noisy line where single frames get lost.
    retries: int = Field(default=0, ge=0, le=5, description="Repeats of a request that timed out")
    late_reply_window: Duration | None = Field(
        default=None,
        ge=timedelta(0),
        le=timedelta(seconds=10),
        description=(
            "RTU: after a failed request, how long the line is listened to (and all heard thrown away) "
            "before the next request; default: the timeout"
        ),
    )
    backoff_cap: Duration = Field(
        default=timedelta(seconds=60), description="Longest wait between reconnects"
    )


BusConfig = Annotated[TcpBusConfig | SerialBusConfig, Field(discriminator="transport")]


class _Link(ProfileModel):
    """A record stream's link: how long opening and reading may take, and how reconnects back off."""

    connect_timeout: Duration = Field(default=timedelta(seconds=10), description="Opening the port/socket")
    read_timeout: Duration = Field(
        default=timedelta(seconds=60),
        description="Longest single read; silence is only an error with the profile's silence_timeout",
    )
    backoff_base: Duration = Field(default=timedelta(seconds=1), description="First reconnect delay bound")
    backoff_cap: Duration = Field(default=timedelta(seconds=60), description="Largest reconnect delay")

    @model_validator(mode="after")
    def _timings_positive(self) -> _Link:
        for name in ("connect_timeout", "read_timeout", "backoff_base", "backoff_cap"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must be at least backoff_base")
        return self


class SerialEndpoint(_Link):
    """A serial port; unset line settings come from the profile's `serial` defaults."""

    kind: Literal["serial"]
    port: str = Field(min_length=1, description="/dev/ttyUSB0, /dev/serial/by-id/..., or a pyserial URL")
    baudrate: int | None = Field(default=None, ge=300, le=921_600)
    parity: Literal["N", "E", "O"] | None = None
    stopbits: Literal[1, 2] | None = None
    bytesize: Literal[7, 8] | None = None

    def line_settings(self, defaults: SerialSettings) -> SerialSettings:
        """The profile's factory settings with this site's overrides applied."""
        overrides = {
            name: getattr(self, name)
            for name in ("baudrate", "parity", "stopbits", "bytesize")
            if getattr(self, name) is not None
        }
        return defaults.model_copy(update=overrides)

    def describe(self) -> str:
        """How logs name this link."""
        return self.port


class TcpEndpoint(_Link):
    """A TCP socket the device (or its serial server) sends records on."""

    kind: Literal["tcp"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)

    def describe(self) -> str:
        """How logs name this link."""
        return f"{self.host}:{self.port}"


Endpoint = Annotated[SerialEndpoint | TcpEndpoint, Field(discriminator="kind")]
