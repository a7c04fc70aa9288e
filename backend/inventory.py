"""The site inventory the backend serves: sites, their devices and channels, from the gateways' site files.

The same files the gateways run from (`firmware_configs/sites/*.yaml`) are read here, profiles resolved the
gateway's way (`pantau.site.resolve`), so the API lists exactly the channels the gateways publish, with
the units and quantities of their device profiles. `SiteInventory` also answers the rules engine's
`backend.rules.inventory.Inventory` questions.

Site files carry no tags; a site's tags come from its `kind` (`SITE_KIND_TAGS`), so a rule can select
`tags: [river]` without naming every gauge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from backend.rules.coverage import Catalog, KnownChannel, KnownDevice
from backend.rules.inventory import RoadClass
from pantau.config import ConfigError
from pantau.profiles.files import read_profile
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.profiles.records.profile import RecordProfile
from pantau.site.config import SiteConfig, load_site
from pantau.site.resolve import ResolvedDevice, ResolvedModbusBus, resolve

#: Tags of a site by its kind (site files have no tags of their own).
SITE_KIND_TAGS: Final[Mapping[str, frozenset[str]]] = {
    "river_gauge": frozenset({"river"}),
    "rain_gauge": frozenset({"rain"}),
    "wim": frozenset({"road", "wim"}),
    "weighbridge": frozenset({"road", "weighbridge"}),
    "mixed": frozenset(),
}


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: str
    unit: str | None
    quantity: str | None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device of a site: Modbus devices publish channels, record streams publish vehicles."""

    id: str
    profile: str
    kind: str  # "modbus" | "records"
    source: str | None  # "wim" | "weighbridge" for record streams
    enabled: bool
    poll_interval_s: float | None
    channels: tuple[ChannelInfo, ...]


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: str
    name: str
    kind: str
    lat: float
    lon: float
    elevation_m: float | None
    road_class: RoadClass | None
    gateway: str
    tags: frozenset[str]
    devices: tuple[DeviceInfo, ...]

    def device(self, device_id: str) -> DeviceInfo | None:
        return next((d for d in self.devices if d.id == device_id), None)


class SiteInventory:
    """Every site the backend knows, by id; cheap lookups only (built once at start)."""

    def __init__(self, sites: Iterable[SiteInfo]) -> None:
        self._sites = {site.id: site for site in sorted(sites, key=lambda s: s.id)}
        self._quantities = {
            (site.id, device.id, channel.id): channel.quantity
            for site in self._sites.values()
            for device in site.devices
            for channel in device.channels
            if channel.quantity is not None
        }

    @classmethod
    def load(cls, directory: Path) -> SiteInventory:
        """Read every `*.yaml` site file in `directory`; ConfigError naming the file on any problem."""
        paths = sorted(directory.glob("*.yaml"))
        sites = [site_info(load_site(path), path) for path in paths]
        seen: dict[str, Path] = {}
        for site, path in zip(sites, paths, strict=True):
            if site.id in seen:
                raise ConfigError(str(path), [f"site: '{site.id}' is also the id of {seen[site.id].name}"])
            seen[site.id] = path
        return cls(sites)

    def sites(self) -> list[SiteInfo]:
        return list(self._sites.values())

    def site(self, site_id: str) -> SiteInfo | None:
        return self._sites.get(site_id)

    # backend.rules.inventory.Inventory
    def quantity_of(self, site: str, device: str, channel: str) -> str | None:
        return self._quantities.get((site, device, channel))

    def site_tags(self, site: str) -> frozenset[str]:
        found = self._sites.get(site)
        return found.tags if found else frozenset()

    def road_class(self, site: str) -> RoadClass | None:
        found = self._sites.get(site)
        return found.road_class if found else None

    def devices(self) -> frozenset[tuple[str, str]]:
        return frozenset((s.id, d.id) for s in self._sites.values() for d in s.devices if d.enabled)

    def catalog(self) -> Catalog:
        """Every site, device and channel a rule selector can name (`backend.rules.coverage`)."""
        sites = self._sites.values()
        return Catalog(
            site_tags={site.id: site.tags for site in sites},
            devices=tuple(
                KnownDevice(s.id, d.id, vehicles=d.kind == "records") for s in sites for d in s.devices
            ),
            channels=tuple(
                KnownChannel(s.id, d.id, c.id, c.unit, c.quantity)
                for s in sites
                for d in s.devices
                for c in d.channels
            ),
        )


def site_info(config: SiteConfig, source: Path) -> SiteInfo:
    """A site file as inventory; profiles resolved as the gateway does (ConfigError on a bad profile)."""
    devices: list[DeviceInfo] = []
    for bus in resolve(config, source, load=read_profile):
        resolved = bus.devices if isinstance(bus, ResolvedModbusBus) else [bus.device]
        devices.extend(_device_info(device) for device in resolved)
    return SiteInfo(
        id=config.site,
        name=config.name,
        kind=config.kind,
        lat=config.location.lat,
        lon=config.location.lon,
        elevation_m=config.location.elevation_m,
        road_class=config.road_class,
        gateway=config.gateway,
        tags=SITE_KIND_TAGS.get(config.kind, frozenset()),
        devices=tuple(devices),
    )


def _device_info(device: ResolvedDevice) -> DeviceInfo:
    profile = device.profile
    channels: list[ChannelInfo] = []
    source = None
    if isinstance(profile, ModbusProfile):
        channels = [ChannelInfo(c.id, c.unit, c.quantity) for c in profile.channels if not c.internal]
        channels += [ChannelInfo(d.id, d.unit, d.quantity) for d in profile.derived]
        kind = "modbus"
    else:
        kind = "records"
        source = profile.source if isinstance(profile, RecordProfile) else None
    return DeviceInfo(
        id=device.config.id,
        profile=profile.id,
        kind=kind,
        source=source,
        enabled=device.config.enabled,
        poll_interval_s=device.config.poll_interval.total_seconds() if kind == "modbus" else None,
        channels=tuple(channels),
    )
