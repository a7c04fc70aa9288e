"""`pantau simulate`: serve a simulated device on TCP or a virtual serial port, with faults on demand."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from drivers.profiles import load_profile
from drivers.sim.device_signals import profile_signal
from drivers.sim.modbus_device import Faults, SimulatedModbusDevice
from drivers.sim.record_device import RecordFaults, SimulatedRecordDevice, serve_serial, serve_tcp
from drivers.sim.server import serial_server, tcp_server
from drivers.sim.signals import RiverScenario, Storm
from drivers.sim.traffic import TrafficGenerator
from drivers.sim.virtual_cable import VirtualCable
from pantau.config import ConfigError, parse_duration
from pantau.profiles.files import find_profile
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.profiles.records.profile import RecordProfile


@click.command()
@click.option(
    "--profile", "profile_name", required=True, help="Profile file or shipped id, e.g. vegapuls-c21."
)
@click.option("--tcp", "tcp_address", help="Serve Modbus TCP on HOST:PORT, e.g. 127.0.0.1:5020.")
@click.option("--pty", "use_pty", is_flag=True, help="Serve Modbus RTU on a virtual serial cable.")
@click.option("--link", type=click.Path(path_type=Path), help="With --pty: symlink the gateway end here.")
@click.option("--unit", type=click.IntRange(1, 247), help="Unit id (default: the profile's).")
@click.option(
    "--param", "params", multiple=True, help="Site parameter NAME=VALUE (mounting_height_m, datum_m)."
)
@click.option(
    "--speed", type=click.FloatRange(min=0.001), default=1.0, show_default=True, help="Time compression."
)
@click.option("--storm-in", default="10m", show_default=True, help="Simulated time until a storm starts.")
@click.option(
    "--overload-share",
    type=click.FloatRange(0, 1),
    default=0.3,
    show_default=True,
    help="Record streams: share of trucks over their JBI.",
)
@click.option("--truck-every", default="20s", show_default=True, help="Record streams: time between trucks.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="no-reply | busy | exception=N | nan=CHANNEL | inf=CHANNEL | stuck | garbage=N (every Nth reply)",
)
def simulate(**options: Any) -> None:
    """Serve a simulated device: a Modbus profile's registers driven by a tidal river with a storm, or a
    record stream (WIM records, weighbridge weight frames) driven by truck traffic."""
    if bool(options["tcp_address"]) == bool(options["use_pty"]):
        raise click.UsageError("give exactly one of --tcp HOST:PORT or --pty")
    try:
        profile = load_profile(find_profile(options["profile_name"]))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if isinstance(profile, RecordProfile):
        records = SimulatedRecordDevice(
            profile,
            TrafficGenerator(overload_share=options["overload_share"]),
            truck_every=_duration_option(options["truck_every"], "--truck-every"),
            faults=RecordFaults(garbage_every=_garbage(options["faults"])),
        )
        with contextlib.suppress(KeyboardInterrupt):
            try:
                asyncio.run(_serve_records(records, options))
            except OSError as exc:
                raise click.ClickException(f"cannot serve: {exc}") from exc
        return
    if not isinstance(profile, ModbusProfile):
        raise click.ClickException(f"{options['profile_name']}: no simulator for this kind of profile")
    params = dict(_pair(p) for p in options["params"])
    device = SimulatedModbusDevice(
        profile,
        profile_signal(
            profile, _scenario(options["storm_in"]), params, options["unit"] or profile.default_unit_id
        ),
        unit_id=options["unit"],
        faults=_faults(options["faults"]),
        clock=_compressed_clock(options["speed"]),
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(device, options))


async def _serve_records(device: SimulatedRecordDevice, options: dict[str, Any]) -> None:
    what = f"{device.profile.id} ({device.profile.source}, overload share {options['overload_share']:.0%})"
    if options["tcp_address"]:
        host, port = _host_port(options["tcp_address"])
        click.echo(f"{what} streaming to clients of tcp {host}:{port}  (Ctrl-C stops)")
        await serve_tcp(device, host, port)
        return
    async with VirtualCable(options["link"]) as cable:
        click.echo(f"{what} streaming on {options['link'] or cable.host_end}  (Ctrl-C stops)")
        await serve_serial(device, cable.device_end)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--tcp")
    return host, int(port)


def _duration_option(text: str, hint: str) -> timedelta:
    value = parse_duration(text)
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise click.BadParameter(f"{text!r} is not a positive duration", param_hint=hint)
    return value


def _garbage(items: tuple[str, ...]) -> int:
    for item in items:
        name, _, value = item.partition("=")
        if name == "garbage":
            return int(value or "3")
        raise click.BadParameter(f"record streams support only garbage=N, not {item!r}", param_hint="--fault")
    return 0


async def _serve(device: SimulatedModbusDevice, options: dict[str, Any]) -> None:
    if options["tcp_address"]:
        host, _, port = options["tcp_address"].rpartition(":")
        if not host or not port.isdigit():
            raise click.BadParameter("expected HOST:PORT", param_hint="--tcp")
        server = tcp_server([device], host, int(port))
        click.echo(f"{device.profile.id} unit {device.unit_id} on modbus tcp {host}:{port}  (Ctrl-C stops)")
        await server.serve_forever()
        return
    async with VirtualCable(options["link"]) as cable:
        rtu = serial_server([device], cable.device_end, device.profile.serial)
        s = device.profile.serial
        where = options["link"] or cable.host_end
        click.echo(
            f"{device.profile.id} unit {device.unit_id} on {where} "
            f"({s.baudrate} {s.bytesize}{s.parity}{s.stopbits})"
            "  (Ctrl-C stops)"
        )
        await rtu.serve_forever()


def _scenario(storm_in: str) -> RiverScenario:
    delay = parse_duration(storm_in)
    if not isinstance(delay, timedelta):
        raise click.BadParameter(f"{storm_in!r} is not a duration", param_hint="--storm-in")
    now = datetime.now(UTC)
    return RiverScenario(epoch=now, storms=(Storm(start=now + delay),))


def _compressed_clock(speed: float) -> Any:
    start = datetime.now(UTC)
    return lambda: start + (datetime.now(UTC) - start) * speed


def _pair(item: str) -> tuple[str, float]:
    name, _, value = item.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError as exc:
        raise click.BadParameter(f"{item!r} is not NAME=NUMBER", param_hint="--param") from exc


def _faults(items: tuple[str, ...]) -> Faults:
    faults = Faults()
    for item in items:
        name, _, value = item.partition("=")
        try:
            if name == "no-reply":
                faults.no_reply = True
            elif name == "busy":
                faults.busy_next = 1_000_000
            elif name == "exception":
                faults.exception_code = int(value)
            elif name == "nan":
                faults.nan_channels.add(value)
            elif name == "inf":
                faults.inf_channels.add(value)
            elif name == "stuck":
                faults.stuck = True
            elif name == "garbage":
                faults.garbage_every = int(value or "3")
            else:
                raise click.BadParameter(f"unknown fault {item!r}", param_hint="--fault")
        except ValueError as exc:
            raise click.BadParameter(f"{item!r}: {exc}", param_hint="--fault") from exc
    return faults
