"""What the generator reads: the site inventory, the rules file and the settings, with the lookups the
dashboards and alert rules share (which series a rule selects at a site, which sites have gauges)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from backend.grafana.queries import Sources
from backend.grafana.settings import GrafanaSettings
from backend.inventory import SiteInfo, SiteInventory
from backend.rules.config import Rule, RulesFile
from backend.rules.coverage import load_checked_rules

logger = logging.getLogger(__name__)

#: Profile quantities the river dashboards draw.
WATER_LEVEL: Final = "water_level"
RAIN_INCREMENT: Final = "rain_increment"

R = TypeVar("R")


@dataclass(frozen=True)
class Scope:
    inventory: SiteInventory
    rules: RulesFile
    settings: GrafanaSettings

    @classmethod
    def load(cls, sites: Path, rules: Path, settings: GrafanaSettings | None = None) -> Scope:
        """Read the site files and the rules file, checked against them as the backend does at start
        (ConfigError naming the file and line on any problem): a panel of a rule that selects nothing
        would draw nothing."""
        inventory = SiteInventory.load(sites)
        loaded, warnings = load_checked_rules(rules, inventory.catalog())
        for warning in warnings:
            logger.warning("%s", warning)
        return cls(inventory, loaded, settings or GrafanaSettings())

    @property
    def sources(self) -> Sources:
        return Sources(self.settings)

    def sites(self) -> list[SiteInfo]:
        return self.inventory.sites()

    def series(self, site: SiteInfo, quantity: str) -> list[tuple[str, str]]:
        """(device, channel) pairs of enabled devices at `site` measuring `quantity`."""
        return [
            (device.id, channel.id)
            for device in site.devices
            if device.enabled
            for channel in device.channels
            if channel.quantity == quantity
        ]

    def river_sites(self) -> list[SiteInfo]:
        """Sites with a water-level or rain gauge: each gets a river dashboard."""
        return [s for s in self.sites() if self.series(s, WATER_LEVEL) or self.series(s, RAIN_INCREMENT)]

    def vehicle_sites(self) -> list[SiteInfo]:
        """Sites with a WIM or weighbridge record stream."""
        return [s for s in self.sites() if any(d.kind == "records" and d.enabled for d in s.devices)]

    def vehicle_devices(self, site: SiteInfo) -> list[str]:
        return [d.id for d in site.devices if d.kind == "records" and d.enabled]

    def rule_series(self, rule: Rule, site: SiteInfo) -> list[tuple[str, str]]:
        """The (device, channel) pairs of `site` a channel rule selects."""
        selector = rule.select
        return [
            (device.id, channel.id)
            for device in site.devices
            if device.enabled
            for channel in device.channels
            if selector.matches(site.id, device.id, channel.id, self.inventory)
        ]

    def rule_devices(self, rule: Rule, site: SiteInfo) -> list[str]:
        """The devices of `site` a vehicle or device rule selects."""
        selector = rule.select
        return [
            d.id for d in site.devices if d.enabled and selector.matches_device(site.id, d.id, self.inventory)
        ]

    def rules_of(self, kind: type[R]) -> list[R]:
        return [rule for rule in self.rules.rules if isinstance(rule, kind)]
