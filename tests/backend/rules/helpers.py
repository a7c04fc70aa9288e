"""Building blocks for rule tests: a controlled clock (times as offsets from T0) and contract messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.rules import RuleEngine, StaticInventory, validate_rules
from backend.rules.config import Rule
from pantau.config import parse_duration
from pantau.contract import Axle, Dimensions, Reading, Readings, Tyres, Vehicle

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
SITE = "ampal-mufakat"
WIM_SITE = "soekarno-hatta-km13"

INVENTORY = StaticInventory(
    quantities={
        (SITE, "wl-radar", "level"): "water_level",
        (SITE, "wl-radar", "distance"): "distance",
        (SITE, "wl-pressure", "level"): "water_level",
        (SITE, "rain", "rain"): "rain_increment",
        (SITE, "rain", "rain_total"): "rain_total",
    },
    tags={SITE: frozenset({"river"})},
    road_classes={WIM_SITE: "I"},
    known_devices=frozenset({(WIM_SITE, "wim-1")}),
)


def at(offset: str | float) -> datetime:
    """T0 plus a duration (`"90s"`, `"2h"`, or seconds)."""
    delta = parse_duration(offset)
    assert isinstance(delta, timedelta)
    return T0 + delta


def rules(*items: dict[str, Any], language: str = "en") -> Any:
    return validate_rules({"language": language, "rules": list(items)}, source="test")


def engine(*items: dict[str, Any], inventory: StaticInventory = INVENTORY) -> RuleEngine:
    return RuleEngine(rules(*items), inventory, "worker-1")


def rule(item: dict[str, Any]) -> Rule:
    loaded: Rule = rules(item).rules[0]
    return loaded


_seq = iter(range(1, 10**9))


def readings(
    ts: datetime, device: str = "wl-radar", site: str = SITE, **channels: Reading | float
) -> Readings:
    values = {
        ch: v if isinstance(v, Reading) else Reading(value=float(v), unit="m") for ch, v in channels.items()
    }
    return Readings(site=site, gateway="gw-test", seq=next(_seq), ts=ts, device=device, channels=values)


def vehicle(
    loads: list[float],
    configuration: str | None,
    ts: datetime = T0,
    *,
    groups: list[int] | None = None,
    dimensions: Dimensions | None = None,
    record_id: str | None = None,
    gvw: float | None = None,
) -> Vehicle:
    """A vehicle with `loads` per axle; `configuration` (`1-2.2`) gives groups and tyres; None: no tyres."""
    if configuration is not None:
        parts = [group.split(".") for group in configuration.split("-")]
        groups = [len(p) for p in parts]
        tyres: list[Tyres | None] = [Tyres.SINGLE if d == "1" else Tyres.DUAL for p in parts for d in p]
    else:
        tyres = [None] * len(loads)
    axles = [Axle(load_kg=float(kg), tyres=t) for kg, t in zip(loads, tyres, strict=True)]
    return Vehicle(
        site=WIM_SITE,
        gateway="gw-sh-km13",
        seq=next(_seq),
        ts=ts,
        device="wim-1",
        source="wim",
        record_id=record_id,
        gvw_kg=float(sum(loads) if gvw is None else gvw),
        axles=axles,
        groups=groups,
        dimensions=dimensions,
    )
