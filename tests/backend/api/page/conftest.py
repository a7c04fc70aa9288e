"""A live backend for the page tests: a real BackendWorker (ingest, rules engine, API on a free loopback
port) fed by the real gateway publisher through Mosquitto with six hours of a rising Sungai Ampal and the
last forty minutes of trucks at Km 13, all stamped in real time (the worker's API runs on the wall clock)."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from backend.storage.model import Storage
from backend.worker import BackendWorker
from drivers.sim.traffic import TrafficGenerator
from pantau.contract import DeviceStatus, GatewayStatus, Message, Reading, Readings
from tests.harness.alerts import SITES, rules_worker
from tests.harness.backend import GatewayFactory, backend_config, eventually
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port

REPO: Final = Path(__file__).resolve().parents[4]
RULES: Final = REPO / "firmware_configs" / "rules" / "balikpapan.yaml"
#: Where screenshots go (gitignored; CI keeps the folder as an artifact).
ARTIFACTS: Final = Path(os.environ.get("PANTAU_TEST_ARTIFACTS", REPO / "test-artifacts"))
RIVER: Final = "ampal-mufakat"
ROAD: Final = "soekarno-hatta-km13"
MINUTES: Final = 360
TRUCKS: Final = 30
#: Frames the WIM stream's status says were refused (shown in the page's gateway health).
REJECTED: Final = 17
#: Every read-only route group: the page then needs no key.
PUBLIC: Final = ["inventory", "latest", "series", "vehicles", "alerts", "reports", "health"]


def level_at(minute: int) -> float:
    """A storm hydrograph: 1.0 m for two hours, rising past Siaga IV and III to 2.3 m at the end."""
    rise = max(0.0, (minute - 120) / (MINUTES - 120))
    return round(1.0 + 1.3 * math.sin(math.pi / 2 * rise) ** 2 + 0.01 * math.sin(minute / 5), 3)


def river(end: datetime) -> list[Message]:
    out: list[Message] = []
    start = end - timedelta(minutes=MINUTES - 1)
    for minute in range(MINUTES):
        ts = start + timedelta(minutes=minute)
        level = level_at(minute)
        out.append(
            Readings(
                site=RIVER,
                gateway="gw-ampal-mufakat",
                seq=2 * minute + 1,
                ts=ts,
                device="wl-radar",
                channels={
                    "level": Reading(value=level, unit="m"),
                    "distance": Reading(value=round(6.2 - level, 3), unit="m"),
                    "signal_quality": Reading(value=41.0, unit="dB"),
                },
            )
        )
        out.append(
            Readings(
                site=RIVER,
                gateway="gw-ampal-mufakat",
                seq=2 * minute + 2,
                ts=ts,
                device="wl-pressure",
                channels={"level": Reading(value=round(level - 0.02, 3), unit="m")},
            )
        )
    seq = 2 * MINUTES + 1
    out.append(GatewayStatus(site=RIVER, gateway="gw-ampal-mufakat", seq=seq, ts=end, state="online"))
    for i, (device, state) in enumerate((("wl-radar", "ok"), ("wl-pressure", "ok"), ("rain", "failing"))):
        out.append(
            DeviceStatus(
                site=RIVER,
                gateway="gw-ampal-mufakat",
                seq=seq + 1 + i,
                ts=end,
                device=device,
                state=state,
                since=start,
                reason="timeout" if state == "failing" else None,
            )
        )
    return out


def trucks(end: datetime) -> list[Message]:
    traffic = TrafficGenerator(seed=7, overload_share=0.5)
    # The WIM stream's status first (ingested before the trucks the page waits for), with refused frames.
    out: list[Message] = [
        DeviceStatus(
            site=ROAD,
            gateway="gw-sh-km13",
            seq=TRUCKS + 2,
            ts=end - timedelta(hours=1),
            device="wim-1",
            state="ok",
            since=end - timedelta(hours=6),
            requests_total=TRUCKS + REJECTED,
            errors_total=REJECTED,
            rejected_total=REJECTED,
        )
    ]
    out += [
        traffic.truck(end - timedelta(seconds=80 * (TRUCKS - i)), lane=1 + i % 2).to_message(
            site=ROAD, device="wim-1", gateway="gw-sh-km13", seq=i + 1
        )
        for i in range(TRUCKS)
    ]
    out.append(GatewayStatus(site=ROAD, gateway="gw-sh-km13", seq=TRUCKS + 1, ts=end, state="online"))
    return out


@dataclass
class Live:
    url: str
    worker: BackendWorker
    storage: Storage


async def _ready(url: str, end: datetime) -> bool:
    """Everything sent is in: the last reading and the device states, the level alert at Siaga III, judged
    trucks."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        try:
            alerts = (await client.get("/api/v1/alerts/active", params={"rule": "ampal-muka-air"})).json()
            vehicles = (await client.get("/api/v1/vehicles", params={"site": ROAD})).json()
            devices = (await client.get(f"/api/v1/sites/{RIVER}/devices")).json()
            latest = (await client.get("/api/v1/latest", params={"site": RIVER, "channel": "level"})).json()
        except httpx.TransportError:  # the worker's API is still starting
            return False
    states = {d["id"]: d["status"] for d in devices["devices"]}
    return (
        # the level alert at its peak (Siaga III), not any alert on the way up: the rules engine has its
        # own subscription and may still be partway through the river when everything else is in
        any(a["level"] == "Siaga III" and a["state"] == "firing" for a in alerts["alerts"])
        and sum(v["verdict"] is not None for v in vehicles["vehicles"]) == TRUCKS
        and states == {"wl-radar": "ok", "wl-pressure": "ok", "rain": "failing"}
        and {datetime.fromisoformat(x["time"]) for x in latest["latest"]} == {end}
    )


@pytest.fixture
async def live(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    sqlite_storage: Storage,
    gateway: GatewayFactory,
) -> AsyncIterator[Live]:
    """A worker with rules and the API, after the data has been ingested and judged."""
    port = free_port()
    api: dict[str, Any] = {"host": "127.0.0.1", "port": port, "public": PUBLIC}
    rules = {"file": str(RULES), "state": str(tmp_path / "rules.sqlite3"), "tick": "500ms"}
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path, sites=str(SITES), rules=rules, api=api)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    async with (
        rules_worker(config, sqlite_storage) as worker,
        gateway() as river_gw,
        gateway(site=ROAD, gateway_id="gw-sh-km13") as road_gw,
    ):
        await river_gw.send(river(end))
        await road_gw.send(trucks(end))
        url = f"http://127.0.0.1:{port}"
        await eventually(lambda: _ready(url, end), timeout=90, what="all the data, judged, in the API")
        yield Live(url, worker, sqlite_storage)
