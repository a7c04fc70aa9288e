"""Issue 21, defect 1: one reading from a gateway whose clock is ten years ahead must not silence a flood
sensor. Real Mosquitto, the real gateway publisher, the backend worker (ingest, rules service with the
shipped Balikpapan rules, the API) on SQLite and on a real influxd.

Before the fix, the 2036 reading froze `wl-radar`'s level tracker (every later value was "older"), so
Siaga I fired for `wl-pressure` only, and `/latest` served the 2036 value as the river's current level.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.storage.model import SeriesQuery, Storage
from backend.storage.schema import READING
from pantau.contract import Reading, Readings
from tests.harness.alerts import AlertListener, rules_config, rules_worker
from tests.harness.backend import GATEWAY, SITE, GatewayFactory, eventually
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port

RULES = Path(__file__).parents[3] / "firmware_configs" / "rules" / "balikpapan.yaml"
READER_KEY = "test-reader-key-0123456789abcdef"  # a test secret, not a credential
#: The issue's figures: a level 10 years ahead, then 3 minutes above Siaga I (2.90 m).
AHEAD = timedelta(days=3653)
FUTURE_LEVEL = 0.50
FLOOD_LEVEL = 3.20
STEPPED_LEVEL = 0.10


def poll(seq: int, device: str, ts: datetime, value: float) -> Readings:
    return Readings(
        site=SITE,
        gateway=GATEWAY,
        seq=seq,
        ts=ts,
        device=device,
        channels={"level": Reading(value=value, unit="m")},
    )


def storm(now: datetime) -> list[Readings]:
    """The 2036 radar reading first, then both sensors at 3.20 m every 10 s for the last 3 minutes."""
    messages = [poll(1, "wl-radar", now + AHEAD, FUTURE_LEVEL)]
    start = now - timedelta(minutes=3)
    for i in range(19):
        at = start + timedelta(seconds=10 * i)
        messages.append(poll(2 + 2 * i, "wl-radar", at, FLOOD_LEVEL))
        messages.append(poll(3 + 2 * i, "wl-pressure", at, FLOOD_LEVEL))
    # Newest of all, a pressure reading the gateway marked itself (its clock had just stepped).
    stepped = Reading(value=STEPPED_LEVEL, unit="m").clock_skewed("clock_stepped", "gateway clock stepped")
    marked = poll(40, "wl-pressure", now + timedelta(seconds=5), 0.0)
    messages.append(marked.model_copy(update={"channels": {"level": stepped}}))
    return messages


def siaga_i(alerts: AlertListener, device: str) -> bool:
    return any(
        t.device == device and t.state == "firing" and t.level == "Siaga I"
        for t in alerts.of("ampal-muka-air")
    )


async def test_a_reading_from_the_future_neither_silences_the_radar_nor_shows_as_latest(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    storage: Storage,
    gateway: GatewayFactory,
    alerts: AlertListener,
) -> None:
    port = free_port()
    digest = hashlib.sha256(READER_KEY.encode()).hexdigest()
    config = rules_config(
        mosquitto,
        mqtt_topic_root,
        tmp_path,
        RULES.read_text(),
        api={"port": port, "keys": [{"name": "flood-map", "role": "read", "key_sha256": digest}]},
    )
    now = datetime.now(UTC).replace(microsecond=0)
    async with (
        rules_worker(config, storage),
        gateway() as gw,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": READER_KEY}, timeout=10
        ) as api,
    ):
        await gw.send(storm(now))
        await gw.drained()
        await eventually(lambda: siaga_i(alerts, "wl-pressure"), what="Siaga I for wl-pressure")
        await eventually(lambda: siaga_i(alerts, "wl-radar"), what="Siaga I for wl-radar")

        async def latest(device: str) -> dict[str, Any] | None:
            response = await api.get("/api/v1/latest", params={"device": device, "channel": "level"})
            assert response.status_code == 200, response.text
            found: list[dict[str, Any]] = response.json()["latest"]
            return found[0] if found else None

        for device in ("wl-radar", "wl-pressure"):
            await eventually(partial(latest, device), what=f"a latest {device} level")
            current = await latest(device)
            assert current is not None
            assert (current["value"], current["quality"]) == (FLOOD_LEVEL, "good"), current
            assert current["time"] < (now + timedelta(minutes=1)).isoformat()
        # The gateway-marked reading moved no alert either: Siaga I for wl-pressure did not resolve.
        assert not any(
            t.device == "wl-pressure" and t.state == "resolved" for t in alerts.of("ampal-muka-air")
        )

        # The 2036 reading is kept, marked, and visible to whoever asks for that time.
        async def stored_future() -> list[dict[str, object]]:
            query = SeriesQuery(
                READING,
                ("value", "quality", "reason"),
                now + AHEAD - timedelta(seconds=1),
                now + AHEAD + timedelta(seconds=1),
                tags={"device": "wl-radar", "channel": "level"},
            )
            return [dict(row.values) for series in await storage.query(query) for row in series.rows]

        await eventually(stored_future, what="the 2036 reading in storage")
        (future,) = await stored_future()
        assert future == {"value": FUTURE_LEVEL, "quality": "clock_skew", "reason": "clock_ahead"}


pytestmark = pytest.mark.services
