"""A simulated week of the Balikpapan sites through the backend, in seconds: memory stays bounded.

The backend's own work on every message, with synthetic timestamps: triage (decode, points), the rules
engine (QC, levels, rate, rain accumulation, stale, ODOL, scale drift) with its state committed every hour as
the rules service does, real SQLite storage with the hourly rollups, the vehicle rollup and retention deleting
what it no longer keeps. The subscriber, the spool and the API's server loop are not in it: their state is
per message and per request, freed when acknowledged or answered (the demo soak, bench/soak_demo.py, runs
them for hours).

Memory is counted as Python's allocated blocks (`sys.getallocatedblocks()`: every object of up to 512 bytes,
the pieces any history or per-message structure is made of; counting them costs nothing, where tracemalloc
made the test four times slower). Day 1 fills what is legitimately bounded by time (24 h rain windows, QC
histories, caches of series and field ids); after six more days of the same traffic, about 3,600 messages
and 30,000 points, fewer than `BOUND` more blocks may be alive. Keeping one object per message would pass it.
"""

from __future__ import annotations

import gc
import json
import math
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from backend.api.vehicle_stats import roll_up_vehicles
from backend.ingest.intake import Accepted, triage
from backend.inventory import SiteInventory
from backend.rules import RuleEngine, load_rules
from backend.rules_service.effects import evaluate
from backend.rules_service.state import RulesState
from backend.storage.model import Point, Retention
from backend.storage.rollup import roll_up
from backend.storage.schema import READING_1H, READING_1M, alert_point
from backend.storage.sqlite import SqliteStorage
from drivers.sim.traffic import TrafficGenerator
from pantau.contract import (
    DeviceStatus,
    GatewayStatus,
    Message,
    OutboxStats,
    Reading,
    Readings,
    Topics,
    Vehicle,
    encode,
)
from pantau.profiles.files import PROFILE_DIR

FIELD: Final = PROFILE_DIR.parent
START: Final = datetime(2026, 12, 7, tzinfo=UTC)
STEP: Final = timedelta(minutes=15)
HOUR: Final = timedelta(hours=1)
DAYS: Final = 7
#: Blocks alive after days 2-7 beyond those alive after day 1: about 2,100 here (the last hour's messages and
#: points, the scale-drift window's 14 days filling); one more per message of days 2-7 would make ~5,700.
BOUND: Final = 4_000
TOPICS: Final = Topics()


def week(inventory: SiteInventory) -> Iterator[tuple[datetime, list[Message]]]:
    """Every device of both sites every 15 minutes (a truck at the WIM each time, a weighing every other),
    device statuses and gateway status every hour; levels swing through the Siaga bands once a day."""
    traffic = TrafficGenerator(seed=3, overload_share=0.35)
    noise = random.Random(3)  # noqa: S311 - simulation
    seq: dict[str, int] = {}

    def next_seq(gateway: str) -> int:
        seq[gateway] = seq.get(gateway, 0) + 1
        return seq[gateway]

    for step in range(int(timedelta(days=DAYS) / STEP)):
        now = START + step * STEP
        messages: list[Message] = []
        for site in inventory.sites():
            gw = site.gateway
            for device in site.devices:
                if device.kind == "modbus":
                    level = 1.5 + 0.8 * math.sin(step / 15) + noise.uniform(-0.01, 0.01)
                    channels = {c.id: Reading(value=round(level, 3), unit=c.unit) for c in device.channels}
                    messages.append(
                        Readings(site=site.id, gateway=gw, seq=next_seq(gw), ts=now, device=device.id,
                                 channels=channels)
                    )  # fmt: skip
                elif device.source == "wim" or step % 2 == 0:
                    record = traffic.truck(now + timedelta(seconds=7), lane=1 + step % 2)
                    messages.append(
                        record.to_message(site=site.id, device=device.id, gateway=gw, seq=next_seq(gw))
                    )
                if step % 4 == 0:
                    messages.append(
                        DeviceStatus(site=site.id, gateway=gw, seq=next_seq(gw), ts=now, device=device.id,
                                     state="ok", since=START, last_success=now, requests_total=step)
                    )  # fmt: skip
            if step % 4 == 0:
                messages.append(
                    GatewayStatus(site=site.id, gateway=gw, seq=next_seq(gw), ts=now, state="online",
                                  started_at=START, outbox=OutboxStats(depth=0))
                )  # fmt: skip
        yield now, messages


async def test_a_week_of_traffic_leaves_backend_memory_bounded(tmp_path: Path) -> None:
    inventory = SiteInventory.load(FIELD / "sites")
    rules = load_rules(FIELD / "rules" / "balikpapan.yaml")
    engine = RuleEngine(rules, inventory, "worker-1")
    state = RulesState(tmp_path / "rules.sqlite3")
    # Retention shorter than the week, so expiry deletes points and drops series while it runs.
    storage = SqliteStorage(
        tmp_path / "pantau.sqlite3", Retention(raw=timedelta(days=2), long=timedelta(days=4))
    )
    await storage.setup()
    pending: list[Point] = []
    snapshot_sizes: list[int] = []
    grown = blocks = 0
    try:
        for now, messages in week(inventory):
            for message in messages:
                accepted = triage(_topic(message), encode(message), TOPICS, now.timestamp())
                assert isinstance(accepted, Accepted), accepted
                transitions, points = evaluate(engine, accepted.message, now)
                pending += accepted.points + points + [alert_point(t) for t in transitions]
            pending += [alert_point(t) for t in engine.tick(now)]
            if (now - START) % HOUR == timedelta(0):
                await _hourly(storage, state, engine, pending, now, rules.model_dump_json())
                pending = []
                snapshot_sizes.append(len(json.dumps(engine.snapshot())))
            if now - START == timedelta(days=1):
                gc.collect()
                blocks = sys.getallocatedblocks()
        gc.collect()
        grown = sys.getallocatedblocks() - blocks
    finally:
        state.close()
        await storage.close()
    assert grown < BOUND, f"{grown} more Python blocks alive after days 2-7 (bound {BOUND})"
    # The engine's state, written every minute by the rules service, holds windows, not history.
    day1, end = snapshot_sizes[23], snapshot_sizes[-1]
    assert end < 2 * day1, (day1, end)


def _topic(message: Message) -> str:
    if isinstance(message, Readings):
        return TOPICS.readings(message.site, message.device)
    if isinstance(message, DeviceStatus):
        return TOPICS.device_status(message.site, message.device)
    if isinstance(message, GatewayStatus):
        return TOPICS.gateway_status(message.site)
    assert isinstance(message, Vehicle)
    return TOPICS.vehicles(message.site, message.device)


async def _hourly(
    storage: SqliteStorage,
    state: RulesState,
    engine: RuleEngine,
    points: list[Point],
    now: datetime,
    rules: str,
) -> None:
    """What the worker and the rules service do over an hour: store, commit state, roll up, expire."""
    state.commit([], points, snapshot=engine.snapshot(), rules=rules)
    for effects in state.pending(limit=10_000):
        state.delivered(effects.id)
    await storage.write(points)
    await roll_up(storage, READING_1M, now - timedelta(minutes=30), now)
    await roll_up(storage, READING_1H, now - timedelta(hours=3), now)
    await roll_up_vehicles(storage, now, timedelta(hours=6))
    if now.hour == 0:
        await storage.expire(now)
