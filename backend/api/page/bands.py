"""Alert bands for the live page's level charts: the rules whose kind draws its levels there (`levels`),
resolved against the site inventory to the channels they watch (pure: no I/O)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from backend.inventory import SiteInventory
from backend.rules.config import RulesFile
from backend.rules.kinds import KINDS


class BandLevel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    trigger: float
    clear: float
    severity: int


class Band(BaseModel):
    """The levels one rule draws on one channel's chart."""

    model_config = ConfigDict(frozen=True)

    site: str
    device: str
    channel: str
    rule: str
    direction: str = Field(description="`up`: fires above the triggers; `down`: below (freeboard)")
    unit: str | None
    normal: str = Field(description="Name of the state before the first level")
    levels: list[BandLevel]


class BandList(BaseModel):
    model_config = ConfigDict(frozen=True)

    bands: list[Band]


def level_bands(rules: RulesFile, inventory: SiteInventory) -> list[Band]:
    """Every (rule, channel) pair a rule drawn on the page selects, in inventory order."""
    bands: list[Band] = []
    for rule in rules.rules:
        drawn = KINDS[rule.kind].page_levels
        if drawn is None:
            continue
        page = drawn(rule)
        levels = [
            BandLevel(name=level.name, trigger=level.trigger, clear=level.clear, severity=level.severity)
            for level in page.levels
        ]
        for site in inventory.sites():
            for device in site.devices:
                for channel in device.channels:
                    if rule.select.matches(site.id, device.id, channel.id, inventory):
                        bands.append(
                            Band(
                                site=site.id,
                                device=device.id,
                                channel=channel.id,
                                rule=rule.id,
                                direction=page.direction,
                                unit=page.unit or channel.unit,
                                normal=page.normal,
                                levels=levels,
                            )
                        )
    return bands
