"""Issue 21, defect 2: what the contract accepts, storage can hold; what it refuses is dead-lettered whole.

Raw JSON payloads over a real Mosquitto into a worker on InfluxDB (a real influxd) and one on SQLite.
Before the fix a device status counting 10**30 requests passed the contract and storage then refused its
point (`storage_rejected`, with the point but not the message the gateway sent).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from backend.storage.model import ALL_TAGS, SeriesQuery, Storage
from tests.harness.backend import GATEWAY, SITE, backend_config, eventually, running
from tests.harness.mosquitto import Mosquitto

EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC))
DEVICE = "rain-1"


def _readings(seq: Any, **changes: Any) -> dict[str, Any]:
    message = {
        "schema_version": 1,
        "kind": "readings",
        "site": SITE,
        "ts": "2026-11-28T06:00:00.000000Z",
        "gateway": GATEWAY,
        "seq": seq,
        "device": DEVICE,
        "channels": {"level": {"value": 1.25, "unit": "m"}},
    }
    return message | changes


def _device_status(**changes: Any) -> dict[str, Any]:
    message = {
        "schema_version": 1,
        "kind": "device_status",
        "site": SITE,
        "ts": "2026-11-28T06:01:00.000000Z",
        "gateway": GATEWAY,
        "seq": 7,
        "device": DEVICE,
        "state": "ok",
        "since": "2026-11-28T05:00:00.000000Z",
    }
    return message | changes


def _gateway_status(**outbox: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "gateway_status",
        "site": SITE,
        "ts": "2026-11-28T06:02:00.000000Z",
        "gateway": GATEWAY,
        "seq": 8,
        "state": "online",
        "outbox": {"depth": 0} | outbox,
    }


#: (name, message, the field the dead letter must name)
REFUSED = [
    ("seq true", _readings(True), "seq"),
    ("seq as a string", _readings("42"), "seq"),
    ("seq 42.0", _readings(42.0), "seq"),
    ("ts as a Unix number", _readings(3, ts=1790000000), "ts"),
    ("requests_total 10**30", _device_status(requests_total=10**30), "requests_total"),
    ("errors_total 2**63", _device_status(errors_total=2**63), "errors_total"),
    ("consecutive_failures 10**30", _device_status(consecutive_failures=10**30), "consecutive_failures"),
    ("discarded replies 10**30", _device_status(discarded_replies_total=10**30), "discarded_replies_total"),
    ("outbox depth 10**30", _gateway_status(depth=10**30), "outbox.depth"),
    ("outbox dropped 10**30", _gateway_status(dropped_total=10**30), "outbox.dropped_total"),
    ("value true", _readings(4, channels={"level": {"value": True}}), "channels.level.value"),
]


def _topic(prefix: str, message: dict[str, Any]) -> str:
    suffix = {"readings": "readings", "device_status": "status"}.get(message["kind"])
    return f"{prefix}/{SITE}/{DEVICE}/{suffix}" if suffix else f"{prefix}/{SITE}/status"


async def test_contract_refuses_what_storage_cannot_hold_and_dead_letters_the_original_payload(
    storage: Storage, mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="strict-contract")
    # The largest counts storage holds (int64) pass, and are stored exactly.
    largest = _device_status(seq=9, ts="2026-11-28T06:03:00.000000Z", requests_total=2**63 - 1)
    valid = [_readings(1), largest, _gateway_status(depth=2**63 - 1)]
    payloads = {name: json.dumps(message).encode() for name, message, _ in REFUSED}
    async with (
        running(config, storage) as worker,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        for name, message, _ in REFUSED:
            await client.publish(_topic(mqtt_topic_root, message), payloads[name], qos=1)
        for message in valid:
            await client.publish(_topic(mqtt_topic_root, message), json.dumps(message).encode(), qos=1)
        total = len(REFUSED) + len(valid)
        await eventually(lambda: worker.subscriber.stats.acked_total >= total, what="every message handled")
        await eventually(lambda: _stored(storage, "device_status", "requests_total"), what="status stored")
        await eventually(lambda: _stored(storage, "gateway_status", "outbox_depth"), what="gateway status")
        await eventually(lambda: _stored(storage, "reading", "value"), what="reading stored")
        assert worker.writer.stats.points_rejected_total == 0  # storage refused nothing the contract let in
        letters = worker.spool.deadletters(limit=100)
        assert {letter.reason for letter in letters} == {"invalid"}
        by_payload = {letter.payload: letter for letter in letters}
        for name, _, field in REFUSED:
            letter = by_payload.get(payloads[name])
            assert letter is not None, f"{name}: no dead letter carries the payload as sent"
            assert f"{field}:" in letter.detail, (name, letter.detail)
        rows = await _stored(storage, "device_status", "requests_total")
        assert rows == [2**63 - 1]  # exact, as an integer
        assert await _stored(storage, "gateway_status", "outbox_depth") == [2**63 - 1]


async def _stored(storage: Storage, measurement: str, field: str) -> list[Any]:
    query = SeriesQuery(measurement, (field,), *EVERYTHING, group_by=ALL_TAGS)
    return [row.values[field] for series in await storage.query(query) for row in series.rows]
