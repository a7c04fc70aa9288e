"""`pantau modbus read|scan`: the technician's tools for checking wiring, addresses and register maps."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from drivers.modbus.bus import BusError, ExceptionResponse, ModbusBus, RequestTimeout, TransportError
from drivers.modbus.codec import DecodeError, decode_byte, decode_number, decode_string
from drivers.modbus.device import ModbusDevice, PollResult
from drivers.modbus.errors import SILENT_UNIT_HINT
from drivers.modbus.rtu import LineCounters
from drivers.profiles import load_profile
from pantau.config import ConfigError, parse_duration
from pantau.contract import Reading
from pantau.profiles.files import find_profile
from pantau.profiles.modbus.profile import (
    REGISTER_COUNT,
    ByteOrder,
    DataType,
    ModbusProfile,
    RegisterByte,
    SerialDefaults,
    Table,
)
from pantau.profiles.records.profile import RecordProfile
from pantau.site.connections import BusTiming, SerialBusConfig, TcpBusConfig

FUNCTIONS = {
    "holding": Table.HOLDING,
    "input": Table.INPUT,
    "coils": Table.COILS,
    "discrete": Table.DISCRETE_INPUTS,
}


@dataclass(frozen=True)
class Connection:
    """Where the bus is, from the command line."""

    port: str | None
    host: str | None
    tcp_port: int
    rtu_over_tcp: bool
    baudrate: int | None
    parity: str | None
    stopbits: int | None
    bytesize: int | None
    timeout: timedelta

    def bus(
        self,
        baudrate: int | None = None,
        defaults: SerialDefaults | None = None,
        late_reply_window: timedelta | None = None,
    ) -> ModbusBus:
        """A bus from the options; unset serial settings come from `defaults` (a profile's), else 9600 8N1."""
        timing = BusTiming(timeout=self.timeout, retries=0, late_reply_window=late_reply_window)
        if self.host:
            framing = "rtu" if self.rtu_over_tcp else "socket"
            return ModbusBus(
                TcpBusConfig(transport="tcp", host=self.host, port=self.tcp_port, framing=framing), timing
            )
        assert self.port is not None  # noqa: S101 - checked by connection_options
        base = defaults or SerialDefaults()
        config = SerialBusConfig.model_validate(
            {
                "transport": "rtu",
                "port": self.port,
                "baudrate": baudrate or self.baudrate or base.baudrate,
                "parity": self.parity or base.parity,
                "stopbits": self.stopbits or base.stopbits,
                "bytesize": self.bytesize or base.bytesize,
            }
        )
        return ModbusBus(config, timing)


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not isinstance(parsed, timedelta):
        raise click.BadParameter(f"{value!r} is not a duration")
    return parsed


def connection_options(command: Any) -> Any:
    """The options every bus command shares (serial port or TCP host, serial settings, timeout)."""
    options = [
        click.option("--port", help="Serial port of the RS-485 adapter, e.g. /dev/ttyUSB0."),
        click.option("--host", help="Modbus TCP device or serial server."),
        click.option("--tcp-port", type=click.IntRange(1, 65535), default=502, show_default=True),
        click.option("--rtu-over-tcp", is_flag=True, help="RTU framing through a serial server on --host."),
        click.option("--baudrate", type=int, help="Default: the profile's, else 9600."),
        click.option("--parity", type=click.Choice(["N", "E", "O"]), help="Default: the profile's, else N."),
        click.option("--stopbits", type=click.Choice(["1", "2"]), help="Default: the profile's, else 1."),
        click.option("--bytesize", type=click.Choice(["7", "8"]), help="Default: the profile's, else 8."),
        click.option("--timeout", default="1s", show_default=True, callback=_duration, help="Per request."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def make_connection(params: dict[str, Any]) -> Connection:
    if bool(params["port"]) == bool(params["host"]):
        raise click.UsageError("give exactly one of --port (serial) or --host (TCP)")
    return Connection(
        port=params["port"],
        host=params["host"],
        tcp_port=params["tcp_port"],
        rtu_over_tcp=params["rtu_over_tcp"],
        baudrate=params["baudrate"],
        parity=params["parity"],
        stopbits=int(params["stopbits"]) if params["stopbits"] else None,
        bytesize=int(params["bytesize"]) if params["bytesize"] else None,
        timeout=params["timeout"],
    )


@click.group()
def modbus() -> None:
    """Talk to Modbus devices directly: read registers, decode a profile, scan a bus."""


@modbus.command()
@connection_options
@click.option("--unit", type=click.IntRange(0, 255), help="Unit (slave) id; default: the profile's, else 1.")
@click.option("--profile", "profile_name", help="Profile file or shipped id: read and decode every channel.")
@click.option("--param", "params", multiple=True, help="Site parameter for derived channels, NAME=VALUE.")
@click.option("--address-base", type=click.Choice(["0", "1"]), help="Override the profile's address base.")
@click.option("--address", type=click.IntRange(0, 65535), help="First register (wire address) of a raw read.")
@click.option(
    "--count", type=click.IntRange(1, 125), default=None, help="Registers to read (default: the type's)."
)
@click.option(
    "--type", "dtype", type=click.Choice([t.value for t in DataType]), default="uint16", show_default=True
)
@click.option(
    "--byte-order", type=click.Choice([o.value for o in ByteOrder]), default="ABCD", show_default=True
)
@click.option("--function", type=click.Choice(list(FUNCTIONS)), default="holding", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def read(**params: Any) -> None:
    """Read once and print decoded values (raw registers, or every channel of --profile)."""
    connection = make_connection(params)
    if params["profile_name"]:
        profile = _load_modbus_profile(params["profile_name"], params["address_base"])
        unit = params["unit"] if params["unit"] is not None else profile.default_unit_id
        result = asyncio.run(_read_profile(connection, profile, unit, _parse_params(params["params"])))
        print_readings(result.readings, as_json=params["as_json"])
        if result.failed_requests >= result.requests:
            first = next(iter(result.readings.values()))
            raise click.ClickException(f"nothing answered: {first.detail or first.reason}")
        return
    if params["address"] is None:
        raise click.UsageError("give --address (raw read) or --profile (decode a device)")
    dtype = DataType(params["dtype"])
    table = FUNCTIONS[params["function"]]
    count = params["count"] or (1 if dtype is DataType.STRING else REGISTER_COUNT[dtype])
    unit = params["unit"] if params["unit"] is not None else 1
    words = asyncio.run(_read_raw(connection, table, params["address"], count, unit))
    _print_raw(
        words, params["address"], table, dtype, ByteOrder(params["byte_order"]), as_json=params["as_json"]
    )


def _load_modbus_profile(name: str, address_base: str | None) -> ModbusProfile:
    try:
        profile = load_profile(find_profile(name))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if not isinstance(profile, ModbusProfile):
        raise click.ClickException(f"{name}: not a Modbus profile")
    if address_base is not None:
        profile = profile.model_copy(update={"address_base": int(address_base)})
    return profile


def _parse_params(items: tuple[str, ...]) -> dict[str, float]:
    parsed: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            parsed[name.strip()] = float(value)
        except ValueError as exc:
            raise click.BadParameter(f"{item!r} is not NAME=NUMBER", param_hint="--param") from exc
    return parsed


async def _read_profile(
    connection: Connection, profile: ModbusProfile, unit: int, params: dict[str, float]
) -> PollResult:
    bus = connection.bus(defaults=profile.serial)
    try:
        return await ModbusDevice(profile, bus, unit_id=unit, params=params).poll()
    finally:
        await bus.close()


async def _read_raw(connection: Connection, table: Table, address: int, count: int, unit: int) -> list[int]:
    bus = connection.bus()
    try:
        return await bus.read(table, address, count, unit)
    except RequestTimeout as exc:
        hint = SILENT_UNIT_HINT if bus.is_rtu else "check the unit id and that the device is powered"
        late = bus.line_counters.late_replies[unit]
        if late:
            hint = "it answered, but later than --timeout: try a longer one"
        raise click.ClickException(f"{exc.reason}: {exc}; {hint}") from exc
    except BusError as exc:
        raise click.ClickException(f"{exc.reason}: {exc}") from exc
    finally:
        await bus.close()


def print_readings(readings: dict[str, Reading], *, as_json: bool) -> None:
    """Readings as a technician's table (quality coloured), or JSON."""
    if as_json:
        click.echo(
            json.dumps(
                {k: r.model_dump(mode="json", exclude_none=True) for k, r in readings.items()}, indent=2
            )
        )
        return
    width = max(len(k) for k in readings)
    for key, r in readings.items():
        number = "" if r.value is None else (str(r.value) if isinstance(r.value, int) else f"{r.value:g}")
        shown = r.text if r.text is not None else number
        if r.text is not None and r.value is not None:
            shown = f"{number} ({r.text})"
        problem = f"  {r.reason}" + (f": {r.detail}" if r.detail else "") if r.reason else ""
        colour = {"good": "green", "suspect": "yellow"}.get(r.quality, "red")
        click.echo(
            f"{key:<{width}}  {shown:>14} {r.unit or '':<5} {click.style(r.quality, fg=colour)}{problem}"
        )


def _print_raw(
    words: list[int], address: int, table: Table, dtype: DataType, order: ByteOrder, *, as_json: bool
) -> None:
    values: list[Any] = []
    if table.is_bits:
        values = words
    elif dtype is DataType.STRING:
        values = [decode_string(words, order)]
    elif dtype is DataType.BIT:
        values = [[(w >> b) & 1 for b in range(16)] for w in words]
    elif dtype in (DataType.INT8, DataType.UINT8):  # both bytes of each register: [high, low]
        signed = dtype is DataType.INT8
        values = [[decode_byte(w, part, signed=signed) for part in RegisterByte] for w in words]
    else:
        size = REGISTER_COUNT[dtype]
        try:
            values = [
                decode_number(words[i : i + size], dtype, order)
                for i in range(0, len(words) - size + 1, size)
            ]
        except DecodeError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(
            json.dumps({"address": address, "registers": words, "type": dtype.value, "values": values})
        )
        return
    for offset, word in enumerate(words):
        click.echo(f"{address + offset:>5}  0x{word:04X}  {word:>5}")
    click.echo(f"{dtype.value} {order.value}: " + ", ".join(str(v) for v in values))


@modbus.command()
@connection_options
@click.option("--units", default="1-247", show_default=True, help="Unit ids to try, e.g. 1-10,246.")
@click.option("--baudrates", default=None, help="Also try these baud rates (serial), e.g. 9600,19200,115200.")
@click.option(
    "--address", type=click.IntRange(0, 65535), default=0, show_default=True, help="Register to probe."
)
@click.option("--function", type=click.Choice(list(FUNCTIONS)), default="holding", show_default=True)
def scan(**params: Any) -> None:
    """Find responding unit ids (and baud rates) on a bus. Any reply, even an exception, counts."""
    connection = make_connection(params)
    units = _parse_units(params["units"])
    try:
        bauds = (
            [int(b) for b in params["baudrates"].split(",")]
            if params["baudrates"]
            else [connection.baudrate or 9600]
        )
    except ValueError as exc:
        raise click.BadParameter(
            f"{params['baudrates']!r} is not like 9600,19200", param_hint="--baudrates"
        ) from exc
    if connection.host and params["baudrates"]:
        raise click.UsageError("--baudrates applies to serial ports only")
    found, heard = asyncio.run(
        _scan(connection, units, bauds, FUNCTIONS[params["function"]], params["address"])
    )
    for baud, unit, answer in found:
        click.echo(f"unit {unit:>3}" + (f" at {baud} baud" if connection.port else "") + f": {answer}")
    for baud, counters in heard.items():
        for note in _line_notes(counters, {u for b, u, _ in found if b == baud}):
            click.echo(f"at {baud} baud: {note}" if connection.port else note)
    if not found:
        click.echo("no device answered")
        raise SystemExit(1)


async def _scan(
    connection: Connection, units: list[int], bauds: list[int], table: Table, address: int
) -> tuple[list[tuple[int, int, str]], dict[int, LineCounters]]:
    found: list[tuple[int, int, str]] = []
    heard: dict[int, LineCounters] = {}
    with click.progressbar(length=len(units) * len(bauds), label="scanning", show_eta=True, file=None) as bar:
        for baud in bauds:
            # Each probe asks another unit, so a late reply cannot pass for the next answer (its unit
            # differs): no need to listen out a silent unit, which would double the time a scan takes.
            bus = connection.bus(baud, late_reply_window=timedelta(0))
            heard[baud] = bus.line_counters
            try:
                for unit in units:
                    answer = await _probe(bus, table, address, unit)
                    if answer:
                        found.append((baud, unit, answer))
                    bar.update(1)
            finally:
                await bus.close()
    return found, heard


def _line_notes(counters: LineCounters, found: set[int]) -> list[str]:
    """What the line carried besides answers: the clues to a wrong baud rate, parity or wiring."""
    notes = [
        f"unit {unit} answered later than --timeout ({count} late replies): try a longer --timeout"
        for unit, count in sorted(counters.late_replies.items())
        if unit not in found
    ]
    if counters.noise_bytes:
        notes.append(
            f"{counters.noise_bytes} bytes heard that were no Modbus frame: another device talks at another "
            "baud rate or parity (try --baudrates, --parity), A and B may be swapped, or the line is noisy"
        )
    return notes


async def _probe(bus: ModbusBus, table: Table, address: int, unit: int) -> str | None:
    try:
        words = await bus.read(table, address, 1, unit)
    except ExceptionResponse as exc:
        return f"answers (exception {exc.code} at {table} {address})"
    except RequestTimeout:
        return None
    except TransportError as exc:
        raise click.ClickException(str(exc)) from exc
    except BusError as exc:
        return f"garbled reply ({exc.reason}): check baud rate and termination"
    return f"answers ({table} {address} = {words[0]})"


def _parse_units(text: str) -> list[int]:
    units: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            units.extend(range(int(low), int(high or low) + 1))
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not like 1-247 or 1,2,246", param_hint="--units") from exc
    if not units or any(not 0 <= u <= 255 for u in units):
        raise click.BadParameter("unit ids are 0..255", param_hint="--units")
    return units


@click.group()
def profile() -> None:
    """Device profiles: register maps and record formats of real products."""


@profile.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Validate profile files; every problem is reported with file and field.

    A record profile's `examples` (sample frames with their expected parse) run as part of loading it; a
    record profile without any fails here, since only a real record proves a layout reads the right columns.
    """
    failures = 0
    for path in paths:
        try:
            loaded = load_profile(path)
        except ConfigError as exc:
            failures += 1
            click.echo(str(exc), err=True)
            continue
        if isinstance(loaded, RecordProfile) and not loaded.examples:
            failures += 1
            click.echo(
                f"{path}: examples: none given; add sample frames from the device with their expected "
                "parse (drivers/serial_records/README.md, 'Examples')",
                err=True,
            )
            continue
        proven = (
            f", {len(loaded.examples)} examples parse as stated" if isinstance(loaded, RecordProfile) else ""
        )
        click.echo(f"{path}: ok ({loaded.manufacturer} {loaded.model}{proven})")
    if failures:
        raise SystemExit(1)
