"""From a site config to its devices: resolve each device's profile and check they fit together.

A site file can be valid YAML and still wrong for the hardware: a Modbus profile on a record-stream port,
a radar without its mounting height, a deadband on a channel the profile does not have. Those are caught
here, before anything is polled, with the file, bus, device and field named. Pure: the gateway builds
buses and devices from the result (`gateway.inventory`), the backend reads channels and units from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from pantau.config import ConfigError, Marks
from pantau.config.suggest import nearest
from pantau.profiles.base import ProfileHeader
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.modbus.profile import DerivedKind, ModbusProfile
from pantau.site.config import DeviceConfig, ModbusBusSpec, RecordStreamSpec, SiteConfig
from pantau.site.connections import SerialBusConfig, SerialEndpoint, TcpBusConfig, TcpEndpoint


@dataclass(frozen=True)
class ResolvedDevice:
    config: DeviceConfig
    profile: ProfileHeader
    where: str  # "buses[0] 'rs485-1'.devices[2] 'rain'" for messages


@dataclass(frozen=True)
class ResolvedModbusBus:
    spec: ModbusBusSpec
    devices: list[ResolvedDevice]


@dataclass(frozen=True)
class ResolvedRecordStream:
    spec: RecordStreamSpec
    device: ResolvedDevice


ResolvedBus = ResolvedModbusBus | ResolvedRecordStream


def with_address_base(profile: ModbusProfile, base: int) -> ModbusProfile:
    """The profile with another address base, re-validated (a register 0 cannot be read with base 1).

    Only what the profile file set goes round again: a default written back would look set to validators
    that refuse options a type ignores (`order` on a bit)."""
    document = profile.model_dump(by_alias=True, exclude_unset=True)
    return ModbusProfile.model_validate(document | {"address_base": base})


Loc = tuple[str | int, ...]
#: Reads one profile file: `pantau.profiles.files.read_profile` (the schema: what the backend needs), or the
#: drivers' `load_profile`, which also proves a record profile's examples against its parser (the gateway's).
ProfileLoader = Callable[[Path], ProfileHeader]
#: What a bus entry's `connection:` can be.
Connection = TcpBusConfig | SerialBusConfig | TcpEndpoint | SerialEndpoint
#: Device settings a record stream does not use: set on one, they would be silently ignored.
_MODBUS_ONLY = ("unit", "address_base", "poll_interval", "params", "report_on_change")


def resolve(site: SiteConfig, source: Path, *, load: ProfileLoader) -> list[ResolvedBus]:
    """Load every device's profile with `load` and cross-check; raises ConfigError listing every problem
    found, each with the line and column in `source` where it was written."""
    problems: list[tuple[Loc, str]] = []
    buses: list[ResolvedBus] = []
    problems.extend(_check_site(site))
    problems.extend(_check_lines(site))
    for b, bus in enumerate(site.buses):
        bus_where = f"buses[{b}] '{bus.id}'"
        if isinstance(bus, ModbusBusSpec):
            problems.extend(_check_timing(bus, b, bus_where))
            devices = []
            for d, device in enumerate(bus.devices):
                where = f"{bus_where}.devices[{d}] '{device.id}'"
                loc: Loc = ("buses", b, "devices", d)
                profile = _profile(device, source, where, problems, loc, load)
                if profile is None:
                    continue
                if not isinstance(profile, ModbusProfile):
                    problems.append(
                        ((*loc, "profile"), f"{where}.profile: '{device.profile}' is not a Modbus profile")
                    )
                    continue
                problems.extend(_check_modbus_device(device, profile, where, loc))
                if device.address_base is not None:
                    try:
                        with_address_base(profile, device.address_base)
                    except ValidationError as exc:
                        reason = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
                        problems.append(((*loc, "address_base"), f"{where}.address_base: {reason}"))
                devices.append(ResolvedDevice(device, profile, where))
            units = [
                d.config.unit if d.config.unit is not None else getattr(d.profile, "default_unit_id", None)
                for d in devices
                if d.config.enabled
            ]
            clashes = sorted({u for u in units if u is not None and units.count(u) > 1})
            if clashes:
                problems.append(
                    (
                        ("buses", b, "devices"),
                        (
                            f"{bus_where}.devices: unit ids {clashes} are used by more than one device "
                            "(counting profile defaults)"
                        ),
                    )
                )
            buses.append(ResolvedModbusBus(bus, devices))
        else:
            where = f"{bus_where}.device '{bus.device.id}'"
            loc = ("buses", b, "device")
            problems.extend(_check_record_device(bus.device, where, loc))
            profile = _profile(bus.device, source, where, problems, loc, load)
            if profile is None:
                continue
            if getattr(profile, "protocol", None) != "records":
                problems.append(
                    (
                        (*loc, "profile"),
                        f"{where}.profile: '{bus.device.profile}' is not a record-stream profile",
                    )
                )
                continue
            buses.append(ResolvedRecordStream(bus, ResolvedDevice(bus.device, profile, where)))
    if problems:
        marks = _marks(source)
        raise ConfigError(str(source), [text for _, text in problems], [marks.at(loc) for loc, _ in problems])
    return buses


def _marks(source: Path) -> Marks:
    try:
        return Marks.of(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):  # the file was read a moment ago; without it, no positions
        return Marks()


def _check_site(site: SiteConfig) -> list[tuple[Loc, str]]:
    if site.road_class is not None and site.kind in ("river_gauge", "rain_gauge"):
        return [
            (
                ("road_class",),
                (
                    f"road_class: a {site.kind} site has no road; road_class applies to wim, weighbridge "
                    "and mixed sites"
                ),
            )
        ]
    return []


#: A bus's physical line: ("serial", the device file behind its symlinks) or ("tcp", host, port).
LineKey = tuple[str, ...]


def line_of(connection: Connection) -> LineKey:
    """The physical line a bus entry opens. A serial port is keyed by the file its symlinks lead to
    (`/dev/serial/by-id/usb-FTDI_...` and `/dev/ttyUSB0` are one adapter); a pyserial URL (`rfc2217://`) and
    a host are compared as written (no DNS lookup at check time)."""
    if isinstance(connection, TcpBusConfig | TcpEndpoint):
        return ("tcp", connection.host.lower(), str(connection.port))
    if "://" in connection.port:
        return ("serial", connection.port)
    return ("serial", os.path.realpath(connection.port))


def _shares_cleanly(connection: Connection) -> bool:
    """Modbus TCP proper: a server or gateway serves several connections and matches each reply to its
    request by transaction id, so two entries (slow devices kept apart with their own timing) are fine."""
    return isinstance(connection, TcpBusConfig) and connection.framing == "socket"


def _check_lines(site: SiteConfig) -> list[tuple[Loc, str]]:
    """Two bus entries on one physical line are refused, naming both. One line is one bus: one port opened
    once, one lock, one set of line settings. Two entries would open it twice and interleave their frames
    (RS-485 is half duplex, a serial server's port is one line), and one of their two line settings is
    wrong; a shared lock would hide that, so the technician is asked to merge the entries instead."""
    problems: list[tuple[Loc, str]] = []
    first_on: dict[LineKey, tuple[int, str, Connection]] = {}
    for b, bus in enumerate(site.buses):
        connection: Connection = bus.connection
        key = line_of(connection)
        where = f"buses[{b}] '{bus.id}'"
        earlier = first_on.setdefault(key, (b, where, connection))
        if earlier[0] == b or (_shares_cleanly(connection) and _shares_cleanly(earlier[2])):
            continue
        written = _written(connection)
        resolved = f" ({key[1]})" if key[0] == "serial" and key[1] != written else ""
        problems.append(
            (
                ("buses", b, "connection"),
                (
                    f"{where}.connection: {written}{resolved} is the line of {earlier[1]} too: two entries "
                    "would open one line twice and interleave their frames; put all its devices under one "
                    "bus entry"
                ),
            )
        )
    return problems


def _written(connection: Connection) -> str:
    if isinstance(connection, TcpBusConfig | TcpEndpoint):
        return f"{connection.host}:{connection.port}"
    return connection.port


def _check_timing(bus: ModbusBusSpec, index: int, where: str) -> list[tuple[Loc, str]]:
    """pymodbus frames Modbus TCP itself: the RTU line's listening after a failure does not exist there."""
    connection = bus.connection
    socket = isinstance(connection, TcpBusConfig) and connection.framing == "socket"
    if socket and "late_reply_window" in bus.timing.model_fields_set:
        return [
            (
                ("buses", index, "timing", "late_reply_window"),
                (
                    f"{where}.timing.late_reply_window: applies to RTU framing (a serial port, or "
                    "framing: rtu through a serial server); Modbus TCP matches replies by transaction id"
                ),
            )
        ]
    return []


def _check_record_device(device: DeviceConfig, where: str, loc: Loc) -> list[tuple[Loc, str]]:
    """Settings a record stream would silently ignore: it is read as the controller sends, not polled."""
    problems = [
        ((*loc, name), f"{where}.{name}: a record stream does not use it (it applies to Modbus devices)")
        for name in _MODBUS_ONLY
        if name in device.model_fields_set
    ]
    if not device.enabled:
        problems.append(
            (
                (*loc, "enabled"),
                f"{where}.enabled: a record stream cannot be disabled; remove (or comment out) its bus",
            )
        )
    return problems


def _profile(  # noqa: PLR0917 - the loop's state, passed down rather than kept in a class
    device: DeviceConfig,
    source: Path,
    where: str,
    problems: list[tuple[Loc, str]],
    loc: Loc,
    load: ProfileLoader,
) -> ProfileHeader | None:
    candidates = [source.parent / device.profile, PROFILE_DIR / f"{device.profile}.yaml"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        shipped = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        hint = nearest(device.profile, shipped) or f" ({', '.join(shipped)})"
        problems.append(
            (
                (*loc, "profile"),
                (
                    f"{where}.profile: '{device.profile}' is neither a file next to this one nor a shipped "
                    f"profile{hint}"
                ),
            )
        )
        return None
    try:
        return load(path)
    except ConfigError as exc:
        problems.extend(((*loc, "profile"), f"{where}.profile: {line}") for line in str(exc).splitlines())
        return None


def _check_modbus_device(
    device: DeviceConfig, profile: ModbusProfile, where: str, loc: Loc
) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for derived in profile.derived:
        if derived.kind is not DerivedKind.COUNTER_INCREMENT and derived.param not in device.params:
            problems.append(
                (
                    (*loc, "params"),
                    (
                        f"{where}.params: profile {profile.id} computes '{derived.id}' from site parameter "
                        f"'{derived.param}', which is not set"
                    ),
                )
            )
    known = {c.id for c in profile.channels} | {d.id for d in profile.derived}
    used = {d.param for d in profile.derived if d.param}
    for unknown in sorted(set(device.params) - used):
        problems.append(
            (
                (*loc, "params", unknown),
                f"{where}.params.{unknown}: profile {profile.id} uses no such parameter"
                + nearest(unknown, used),
            )
        )
    if device.report_on_change is not None:
        deadband = (*loc, "report_on_change", "deadband")
        increments = {d.id for d in profile.derived if d.kind is DerivedKind.COUNTER_INCREMENT}
        for channel in sorted(set(device.report_on_change.deadband) & increments):
            problems.append(
                (
                    (*deadband, channel),
                    (
                        f"{where}.report_on_change.deadband.{channel}: '{channel}' is an increment per poll; "
                        "suppressing some would lose rain. Put the deadband on the total instead"
                    ),
                )
            )
        internal = {c.id for c in profile.channels if c.internal}
        for channel in sorted(set(device.report_on_change.deadband) - known):
            problems.append(
                (
                    (*deadband, channel),
                    f"{where}.report_on_change.deadband.{channel}: profile {profile.id} has no such channel"
                    + nearest(channel, known - internal),
                )
            )
        for channel in sorted(set(device.report_on_change.deadband) & internal):
            problems.append(
                (
                    (*deadband, channel),
                    (
                        f"{where}.report_on_change.deadband.{channel}: '{channel}' is internal to profile "
                        f"{profile.id} (read for other channels, never published): a deadband does nothing"
                    ),
                )
            )
    return problems


def notes(buses: list[ResolvedBus]) -> list[str]:
    """Things worth a technician's second look that are not errors (settings that differ from factory)."""
    found = []
    for resolved in buses:
        if not isinstance(resolved, ResolvedModbusBus) or not isinstance(
            resolved.spec.connection, SerialBusConfig
        ):
            continue
        c = resolved.spec.connection
        for device in resolved.devices:
            p = device.profile.serial if isinstance(device.profile, ModbusProfile) else None
            if p and (c.baudrate, c.parity, c.stopbits, c.bytesize) != (
                p.baudrate,
                p.parity,
                p.stopbits,
                p.bytesize,
            ):
                found.append(
                    f"{device.where}: {device.profile.id} ships at "
                    f"{p.baudrate} {p.bytesize}{p.parity}{p.stopbits}; "
                    f"bus {resolved.spec.id} runs {c.baudrate} {c.bytesize}{c.parity}{c.stopbits} — "
                    "re-configure the device on the bench before installing"
                )
    return found
