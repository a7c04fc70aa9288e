"""The data every API test reads: a day of Sungai Ampal gauges rising into Siaga III, and trucks at
Jl. Soekarno-Hatta Km 13. It is published by the real gateway publisher over Mosquitto and stored by a real
`BackendWorker`; the rules engine then judges it as the rules worker will (ODOL verdicts stored with the
vehicles, alert transitions in the `alert` measurement)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from backend.inventory import SiteInventory
from backend.rules import RuleEngine, load_rules
from backend.rules_service.effects import evaluate
from backend.storage.model import ALL_TAGS, Point, SeriesQuery, Storage
from backend.storage.schema import alert_point
from drivers.sim.traffic import TrafficGenerator
from pantau.contract import Message, Reading, Readings, Vehicle

ROOT: Final = Path(__file__).resolve().parents[3] / "firmware_configs"
T0: Final = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
#: What "now" is for the API under test.
NOW: Final = T0 + timedelta(days=1)
RIVER: Final = "ampal-mufakat"
ROAD: Final = "soekarno-hatta-km13"
POLLS: Final = 144  # every 10 minutes for 24 h
TRUCKS: Final = 40
EVERYTHING: Final = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC))


def level_at(i: int) -> float:
    """Low for 20 hours, then above Siaga III (2.00 m) for the last four."""
    return round((1.0 if i < 120 else 2.1) + i / 10_000, 4)


def river_messages() -> list[Message]:
    out: list[Message] = []
    for i in range(POLLS):
        ts = T0 + timedelta(minutes=10 * i)
        out.append(
            Readings(
                site=RIVER,
                gateway="gw-ampal-mufakat",
                seq=i * 3,
                ts=ts,
                device="wl-radar",
                channels={
                    "level": Reading(value=level_at(i), unit="m"),
                    "distance": Reading(value=round(6.2 - level_at(i), 4), unit="m"),
                    "signal_quality": Reading.missing("timeout")
                    if i % 10 == 0
                    else Reading(value=40.0, unit="dB"),
                },
            )
        )
        out.append(
            Readings(
                site=RIVER,
                gateway="gw-ampal-mufakat",
                seq=i * 3 + 1,
                ts=ts,
                device="wl-pressure",
                channels={"level": Reading(value=level_at(i) - 0.02, unit="m")},
            )
        )
    return out


def vehicle_messages() -> list[Vehicle]:
    """Trucks with tyres reported, and every third without (as from most WIM controllers: the backend then
    judges the configuration from the axle groups)."""
    traffic = TrafficGenerator(seed=11, overload_share=0.4)
    out = []
    for i in range(TRUCKS):
        message = traffic.truck(T0 + timedelta(hours=2, seconds=97 * i), lane=1 + i % 2).to_message(
            site=ROAD, device="wim-1", gateway="gw-sh-km13", seq=10_000 + i
        )
        if i % 3 == 2:
            axles = [axle.model_copy(update={"tyres": None}) for axle in message.axles]
            message = message.model_copy(update={"axles": axles})
        out.append(message)
    return out


def inventory() -> SiteInventory:
    return SiteInventory.load(ROOT / "sites")


def judge(messages: list[Message], site_inventory: SiteInventory) -> tuple[RuleEngine, list[Point]]:
    """Run the real rules engine over the data; the points (QC, verdicts, alerts) the rules worker stores."""
    engine = RuleEngine(load_rules(ROOT / "rules" / "balikpapan.yaml"), site_inventory, "worker-1")
    points: list[Point] = []
    for message in sorted(messages, key=lambda m: m.ts):
        transitions, stored_points = evaluate(engine, message, message.ts)
        points.extend(stored_points)
        points.extend(alert_point(t) for t in transitions)
    return engine, points


async def stored(storage: Storage, measurement: str, field: str = "seq") -> int:
    query = SeriesQuery(measurement, (field,), *EVERYTHING, group_by=ALL_TAGS)
    return sum(len(series.rows) for series in await storage.query(query))


@dataclass(frozen=True)
class Expected:
    readings: int = POLLS * 4  # radar: level, distance, signal quality; pressure: level
    vehicles: int = TRUCKS
