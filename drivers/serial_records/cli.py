"""`pantau records read`: watch a WIM controller or weighbridge stream through a record profile.

Prints every vehicle the profile parses and every frame it refuses, with the failing field and the frame's
bytes, until `--count` frames or `--duration` have passed (or Ctrl-C), then a summary. The exit status says
whether the profile fits the device: 0 when vehicles were read and nothing was refused, 1 otherwise (nothing
arrived, or some frames were refused), 2 for a usage or profile error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import timedelta
from typing import Any, Final, TextIO

import click

from drivers.profiles import load_profile
from drivers.serial_records.records import VehicleRecord
from drivers.serial_records.rejects import Reject
from drivers.serial_records.stream import RecordStream
from pantau.config import ConfigError, parse_duration
from pantau.contract import format_utc
from pantau.profiles.files import find_profile
from pantau.profiles.records.profile import RecordProfile
from pantau.site.connections import SerialEndpoint, TcpEndpoint

#: The CLI's reconnect: a commissioning session wants to see a flaky link come back quickly.
_LINK: Final = {"connect_timeout": timedelta(seconds=5), "backoff_base": timedelta(seconds=1)}


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        raise click.BadParameter(f"{value!r} is not a positive duration like 30s or 5m")
    return parsed


@click.group()
def records() -> None:
    """Read serial record streams (WIM controllers, weighbridge indicators) directly."""


@records.command()
@click.option("--port", help="Serial port (or a pty), e.g. /dev/ttyUSB0.")
@click.option("--host", help="Serial device server or controller sending records over TCP.")
@click.option("--tcp-port", type=click.IntRange(1, 65535), default=4001, show_default=True)
@click.option("--profile", "profile_name", required=True, help="Record profile file or shipped id.")
@click.option("--baudrate", type=click.IntRange(300, 921_600), help="Default: the profile's.")
@click.option("--parity", type=click.Choice(["N", "E", "O"]), help="Default: the profile's.")
@click.option("--stopbits", type=click.Choice(["1", "2"]), help="Default: the profile's.")
@click.option("--bytesize", type=click.Choice(["7", "8"]), help="Default: the profile's.")
@click.option(
    "--count", type=click.IntRange(min=1), help="Stop after this many frames (vehicles and rejects)."
)
@click.option("--duration", callback=_duration, help="Stop after this long, e.g. 30s or 5m.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (vehicle, reject, summary).")
def read(**params: Any) -> None:
    """Print each vehicle the profile reads from the stream, and each frame it refuses with the field."""
    if bool(params["port"]) == bool(params["host"]):
        raise click.UsageError("give exactly one of --port (serial) or --host (TCP)")
    if params["count"] is None and params["duration"] is None and not sys.stdin.isatty():
        raise click.UsageError("give --count or --duration (or run it in a terminal and stop with Ctrl-C)")
    try:
        profile = load_profile(find_profile(params["profile_name"]))
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--profile") from exc
    if not isinstance(profile, RecordProfile):
        raise click.BadParameter(
            f"{params['profile_name']}: not a record profile (protocol: records)", param_hint="--profile"
        )
    endpoint: SerialEndpoint | TcpEndpoint
    if params["port"]:
        serial = {k: params[k] for k in ("baudrate", "parity") if params[k] is not None}
        serial |= {k: int(params[k]) for k in ("stopbits", "bytesize") if params[k] is not None}
        endpoint = SerialEndpoint(kind="serial", port=params["port"], **serial, **_LINK)
    else:
        endpoint = TcpEndpoint(kind="tcp", host=params["host"], port=params["tcp_port"], **_LINK)
    session = Session(profile, endpoint, as_json=params["as_json"], out=sys.stdout)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(session.run(params["count"], params["duration"]))
    session.summary()
    sys.exit(0 if session.vehicles and not session.rejects else 1)


class Session:
    """One `records read`: the stream, what it printed, and when to stop."""

    def __init__(
        self, profile: RecordProfile, endpoint: SerialEndpoint | TcpEndpoint, *, as_json: bool, out: TextIO
    ) -> None:
        self.stream = RecordStream(profile, endpoint, name=endpoint.describe(), on_reject=self._rejected)
        self.as_json = as_json
        self.out = out
        self.vehicles = 0
        self.rejects = 0
        self._seen = asyncio.Event()

    async def run(self, count: int | None, duration: timedelta | None) -> None:
        """Read until `count` frames were shown, `duration` passed, or the stream died of a bug."""
        reader = asyncio.create_task(self.stream.run(self._vehicle), name=f"records[{self.stream.name}]")
        enough = asyncio.create_task(self._until(count), name="records-count")
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration.total_seconds() if duration is not None else None):
                    await asyncio.wait([reader, enough], return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                reader.result()  # the stream never ends by itself: an exception here is a bug, shown
        finally:
            for task in (reader, enough):
                task.cancel()
            await asyncio.gather(reader, enough, return_exceptions=True)

    async def _until(self, count: int | None) -> None:
        while count is None or self.vehicles + self.rejects < count:
            self._seen.clear()
            await self._seen.wait()

    async def _vehicle(self, record: VehicleRecord) -> None:
        self.vehicles += 1
        self._seen.set()
        if self.as_json:
            self._json({"kind": "vehicle"} | record.model_dump(mode="json", exclude_none=True))
            return
        axles = ", ".join(f"{axle.load_kg:g}" for axle in record.axles)
        parts = [
            f"vehicle {record.record_id or '-'}",
            format_utc(record.ts),
            f"lane {record.lane}" if record.lane is not None else None,
            f"{record.speed_kmh:g} km/h" if record.speed_kmh is not None else None,
            f"class {record.vehicle_class}" if record.vehicle_class else None,
            f"GVW {record.gvw_kg:g} kg",
            f"{len(record.axles)} axles [{axles}] kg" if record.axles else None,
            record.quality if record.reason is None else f"{record.quality} ({record.reason})",
        ]
        self.out.write("  ".join(part for part in parts if part) + "\n")
        self.out.flush()

    def _rejected(self, reject: Reject) -> None:
        self.rejects += 1
        self._seen.set()
        if self.as_json:
            self._json(
                {
                    "kind": "reject",
                    "at": format_utc(reject.at),
                    "reason": reject.reason,
                    "field": reject.field,
                    "problem": reject.problem,
                    "excerpt": reject.excerpt,
                    "frame_bytes": reject.frame_bytes,
                }
            )
            return
        field = f" [{reject.field}]" if reject.field else ""
        self.out.write(f"REJECT {reject.reason}{field}: {reject.problem}\n       frame: {reject.excerpt}\n")
        self.out.flush()

    def summary(self) -> None:
        c = self.stream.counters
        if self.as_json:
            self._json(
                {
                    "kind": "summary",
                    "frames": c.frames,
                    "vehicles": self.vehicles,
                    "rejects": dict(sorted(c.rejects_by_reason.items())),
                    "bytes": c.bytes_received,
                    "skipped_bytes": c.skipped_bytes,
                    "connected": c.connects > 0,
                    "last_error": c.last_error,
                }
            )
            return
        by_reason = ", ".join(f"{n} {reason}" for reason, n in sorted(c.rejects_by_reason.items()))
        line = f"{self.vehicles} vehicles, {self.rejects} rejected" + (f" ({by_reason})" if by_reason else "")
        line += f"; {c.bytes_received} bytes, {c.skipped_bytes} skipped"
        if c.connects == 0:
            line += f"; never connected: {c.last_error or 'no answer'}"
        self.out.write(line + "\n")

    def _json(self, document: dict[str, Any]) -> None:
        self.out.write(json.dumps(document, ensure_ascii=False) + "\n")
        self.out.flush()
