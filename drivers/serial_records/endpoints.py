"""Where a record stream comes from: a serial port or a TCP socket (a serial device server such as a
Moxa NPort, or a controller's own Ethernet port), with the link's timeouts and reconnect back-off.

These belong to the site, not the product: a site config embeds one (`kind: serial` or `kind: tcp`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, model_validator

from pantau.config import Duration
from pantau.profiles.base import ProfileModel
from pantau.profiles.records.profile import SerialSettings


class _Link(ProfileModel):
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
