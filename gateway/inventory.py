"""The site's devices as this gateway runs them: resolved with profiles the drivers have proven, then built
into buses and devices ready to poll.

Resolution itself is pure and shared with the backend (`pantau.site.resolve`); the gateway adds the
drivers' profile loader, which runs a record profile's examples through its parser, so `pantau gateway
check` refuses a layout that reads the wrong columns before the gateway ever starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from drivers.profiles import load_profile
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.resilience import SYSTEM_CLOCK, Clock
from pantau.site.config import SiteConfig
from pantau.site.resolve import ResolvedBus, ResolvedModbusBus, resolve, with_address_base

if TYPE_CHECKING:
    from drivers.modbus.bus import ModbusBus
    from drivers.modbus.device import ModbusDevice


def resolve_site(site: SiteConfig, source: Path) -> list[ResolvedBus]:
    """Every bus of `site` with its devices' profiles loaded and proven; raises ConfigError listing every
    problem, each at its line in `source`."""
    return resolve(site, source, load=load_profile)


def build_bus(
    resolved: ResolvedModbusBus, clock: Clock = SYSTEM_CLOCK
) -> tuple[ModbusBus, list[ModbusDevice]]:
    """The bus and its devices, ready to poll."""
    # Imported here: `pantau gateway check` resolves a site without building its buses, and pymodbus is
    # half of what it would otherwise import.
    from drivers.modbus.bus import ModbusBus  # noqa: PLC0415
    from drivers.modbus.device import ModbusDevice  # noqa: PLC0415

    bus = ModbusBus(resolved.spec.connection, resolved.spec.timing, name=resolved.spec.id, clock=clock)
    devices = []
    for device in resolved.devices:
        profile = device.profile
        assert isinstance(profile, ModbusProfile)  # noqa: S101 - guaranteed by resolve()
        if device.config.address_base is not None:
            profile = with_address_base(profile, device.config.address_base)
        unit = device.config.unit if device.config.unit is not None else profile.default_unit_id
        devices.append(ModbusDevice(profile, bus, unit_id=unit, params=device.config.params, clock=clock))
    return bus, devices
