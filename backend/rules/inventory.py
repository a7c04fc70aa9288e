"""The engine's view of the site inventory: what a channel measures, a site's tags and road class.

The engine only reads through `Inventory`, so the backend can back it with the site config files and tests
with `StaticInventory`, a plain in-memory table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

RoadClass = Literal["I", "II", "III"]


class Inventory(Protocol):
    """What the engine needs to know about sites and devices; every method is a cheap lookup."""

    def quantity_of(self, site: str, device: str, channel: str) -> str | None:
        """The channel's quantity (`water_level`, `rain_increment`...), None when unknown."""
        ...

    def site_tags(self, site: str) -> frozenset[str]:
        """Tags of the site (`river`, `tidal`, ...); empty when unknown."""
        ...

    def road_class(self, site: str) -> RoadClass | None:
        """Road class of a WIM/weighbridge site (PP 30/2021), None when not a road site or unknown."""
        ...

    def devices(self) -> frozenset[tuple[str, str]]:
        """Every known (site, device), so a device that never reported can still go stale."""
        ...


@dataclass(frozen=True)
class StaticInventory:
    """An inventory from literal tables (tests, replay of a fixed set of sites)."""

    quantities: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    tags: Mapping[str, frozenset[str]] = field(default_factory=dict)
    road_classes: Mapping[str, RoadClass] = field(default_factory=dict)
    known_devices: frozenset[tuple[str, str]] = frozenset()

    def quantity_of(self, site: str, device: str, channel: str) -> str | None:
        return self.quantities.get((site, device, channel))

    def site_tags(self, site: str) -> frozenset[str]:
        return self.tags.get(site, frozenset())

    def road_class(self, site: str) -> RoadClass | None:
        return self.road_classes.get(site)

    def devices(self) -> frozenset[tuple[str, str]]:
        return self.known_devices | {(site, device) for site, device, _ in self.quantities}
