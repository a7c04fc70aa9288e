"""Integer readings stay exact end to end (issue 21, defect 6): a 64-bit counter at 2**60 + 1 read from a
real pymodbus server, decoded, queued in the gateway's outbox, published to a real Mosquitto, ingested by
the backend into SQLite or a real influxd, and served by the API under uvicorn: the JSON carries the very
integer the device holds. Before, every reading was a float and the counter came out as 2**60."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from backend.api.app import create_app
from backend.storage.model import ALL_TAGS, SeriesQuery, Storage
from drivers.modbus.bus import ModbusBus
from drivers.modbus.device import ModbusDevice
from drivers.sim.modbus_device import SimulatedModbusDevice, constant_signal
from pantau.contract import Readings
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.site.connections import BusTiming, TcpBusConfig
from tests.backend.api import dataset
from tests.backend.api.conftest import KEYS, api_config, serve
from tests.harness.backend import GATEWAY, SITE, GatewayFactory, backend_config, eventually, running
from tests.harness.modbus import ModbusServerFactory
from tests.harness.mosquitto import Mosquitto

READ_AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DEVICE = "flow-meter"
#: What the device holds: each integer beyond what a double carries exactly (2**53).
HELD: dict[str, float | str] = {
    "pulses": 2**60 + 1,  # uint64: a long-running counter
    "balance": -(2**62) - 3,  # int64
    "energy_wh": (2**50 + 7) * 1000,  # uint64 with a whole-number scale: still an integer
    "flow": 2.5,  # float32: a float, as before
}
PROFILE = ModbusProfile.model_validate(
    {
        "id": "exact-counter",
        "protocol": "modbus",
        "manufacturer": "pantau tests",
        "model": "a meter with 64-bit counters",
        "channels": [
            {"id": "pulses", "register": 0, "type": "uint64"},
            {"id": "balance", "register": 4, "type": "int64", "order": "CDAB"},
            {"id": "energy_wh", "register": 8, "type": "uint64", "scale": 1000, "unit": "Wh"},
            {"id": "flow", "register": 12, "type": "float32", "unit": "m3/h"},
        ],
    }
)
EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC))


async def test_a_64_bit_counter_reaches_the_api_exactly(
    storage: Storage,
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    gateway: GatewayFactory,
    modbus_tcp_server: ModbusServerFactory,
) -> None:
    sim = SimulatedModbusDevice(PROFILE, constant_signal(HELD))
    server = modbus_tcp_server([sim.sim_device()])
    bus = ModbusBus(TcpBusConfig(transport="tcp", host=server.host, port=server.port), BusTiming())
    try:
        poll = await ModbusDevice(PROFILE, bus, unit_id=sim.unit_id).poll()
    finally:
        await bus.close()
    message = Readings(site=SITE, gateway=GATEWAY, seq=1, ts=READ_AT, device=DEVICE, channels=poll.readings)
    assert {cid: r.value for cid, r in message.channels.items()} == HELD  # exact from the decoder on

    config = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="exact-integers")
    async with running(config, storage), gateway() as gw:
        await gw.send([message])
        await eventually(lambda: _stored(storage), what="the poll stored")
    stored = await _stored(storage)
    assert stored["pulses"] == {
        "value": float(2**60),
        "value_int": 2**60 + 1,
    }  # a float for graphs, and exact
    assert stored["flow"] == {"value": 2.5, "value_int": None}

    app = create_api(storage)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        latest = await client.get("/api/v1/latest", params={"device": DEVICE})
        series = await client.get(
            "/api/v1/series",
            params={
                "series": f"{SITE}/{DEVICE}/pulses",
                "start": "2026-11-28T00:00:00Z",
                "end": "2026-11-29T00:00:00Z",
            },
            headers={"Authorization": f"Bearer {KEYS['read']}"},
        )
    assert latest.status_code == 200, latest.text
    assert series.status_code == 200, series.text
    assert '"value":1152921504606846977' in latest.text.replace(
        " ", ""
    )  # as the device holds it, in the JSON
    values = {item["channel"]: item["value"] for item in json.loads(latest.text)["latest"]}
    assert values == HELD
    assert all(type(values[cid]) is int for cid in ("pulses", "balance", "energy_wh"))
    assert [row["value"] for row in series.json()["series"][0]["rows"]] == [2**60 + 1]


def create_api(storage: Storage) -> FastAPI:
    return create_app(
        api_config(), storage, dataset.inventory(), None, clock=lambda: READ_AT + timedelta(minutes=1)
    )


async def _stored(storage: Storage) -> dict[str, dict[str, Any]]:
    query = SeriesQuery(
        "reading", ("value", "value_int"), *EVERYTHING, tags={"device": DEVICE}, group_by=ALL_TAGS
    )
    return {
        series.tags["channel"]: {"value": row.values.get("value"), "value_int": row.values.get("value_int")}
        for series in await storage.query(query)
        for row in series.rows
    }
