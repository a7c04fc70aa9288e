"""Refused WIM records are visible at the backend (issue 21, defect 5): a real gateway reads a TCP WIM
controller that sends good records and a babble of bad ones, publishes to a real Mosquitto, and a real
backend worker stores the stream's periodic device status (with its reject count, in SQLite and InfluxDB)
and keeps rate-limited samples of the rejects, naming the failing field, in its dead-letter store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import yaml

from backend.ingest.record_rejects import RECORD_REJECT
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import ALL_TAGS, Retention, SeriesQuery, Storage
from backend.storage.sqlite import SqliteStorage
from drivers.profiles import load_profile
from gateway.runtime import Gateway, RuntimeOptions
from pantau.contract import DeviceStatus, RecordReject
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.records.profile import RecordProfile
from pantau.site.config import load_site
from tests.drivers.serial_records.test_parser import CSV_BODY, csv_frame
from tests.gateway.conftest import Recorder, recording
from tests.harness.backend import backend_config, eventually, opened, running
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto

EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC))
BAD_GVW, BAD_SUM = 40, 15


def wim_lines(profile: RecordProfile) -> tuple[bytes, bytes]:
    """A good record, then a babbling controller (40 with a letter in GVW, 15 with a wrong checksum) and
    another good record."""
    good = csv_frame(profile, CSV_BODY) + b"\r\n"
    bad_gvw = csv_frame(profile, CSV_BODY.replace(",31640,", ",3164O,")) + b"\r\n"
    bad_sum = good.replace(b",59\r\n", b",58\r\n")
    return good, bad_gvw * BAD_GVW + bad_sum * BAD_SUM + good


@contextlib.asynccontextmanager
async def wim_controller(first: bytes, then: bytes, after: asyncio.Event) -> AsyncIterator[int]:
    """A TCP WIM controller (a serial device server's port): sends `first`, `then` once `after` is set, and
    stays connected (the link never changes while it babbles)."""
    done = asyncio.Event()

    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(first)
        await writer.drain()
        await after.wait()
        writer.write(then)
        await writer.drain()
        await done.wait()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        done.set()
        server.close()
        await server.wait_closed()


def site_file(tmp_path: Path, broker: Mosquitto, prefix: str, port: int) -> Path:
    document = {
        "site": "soekarno-hatta-km13",
        "name": "Km 13 (test)",
        "kind": "wim",
        "road_class": "I",
        "location": {"lat": -1.1747, "lon": 116.8520},
        "gateway": "gw-sh-km13",
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix, "reconnect_cap": "2s"},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "status_interval": "1s",
        "buses": [
            {
                "id": "wim-link",
                "kind": "records",
                "connection": {"kind": "tcp", "host": "127.0.0.1", "port": port},
                "device": {"id": "wim-1", "profile": "generic-wim-csv"},
            }
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@contextlib.asynccontextmanager
async def gateway_running(path: Path) -> AsyncIterator[Gateway]:
    runtime = Gateway(load_site(path), path, RuntimeOptions(metrics_address=None))
    task = asyncio.create_task(runtime.run(), name="gateway")
    try:
        yield runtime
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def stream_statuses(recorder: Recorder) -> list[DeviceStatus]:
    unique = {m.seq: m for _t, m in recorder.received if isinstance(m, DeviceStatus) and m.device == "wim-1"}
    return [unique[seq] for seq in sorted(unique)]


async def stored_rejected_total(storage: Storage, expected: int) -> bool:
    """Whether the latest stored device status of wim-1 counts `expected` rejects."""
    query = SeriesQuery("device_status", ("rejected_total",), *EVERYTHING, group_by=ALL_TAGS)
    rows = [row for series in await storage.query(query) for row in series.rows]
    return bool(rows) and rows[-1].values.get("rejected_total") == expected


async def test_rejects_reach_the_backend_as_counts_and_samples_naming_the_field(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path, influxd: Influxd, influx_db: str
) -> None:
    profile = load_profile(PROFILE_DIR / "generic-wim-csv.yaml")
    assert isinstance(profile, RecordProfile)
    on_sqlite = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    on_influx = InfluxStorage(InfluxConfig(url=influxd.url, database=influx_db, retry_for=5), Retention())
    config_a = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="sqlite-worker")
    config_b = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="influx-worker")
    link_reported = asyncio.Event()
    async with (
        opened(on_sqlite),
        opened(on_influx),
        running(config_a, on_sqlite) as worker,
        running(config_b, on_influx),
        recording(mosquitto, mqtt_topic_root, client_id="rec-rejects") as recorder,
        wim_controller(*wim_lines(profile), after=link_reported) as port,
        gateway_running(site_file(tmp_path, mosquitto, mqtt_topic_root, port)),
    ):
        # The babble starts once the link-up status is out: before issue 21 that was the only status sent.
        await recorder.wait_for(lambda r: bool(stream_statuses(r)), timeout=30)
        link_reported.set()
        rejected = BAD_GVW + BAD_SUM
        # The link came up once; the count still arrives, in a periodic status (not only on link changes).
        await recorder.wait_for(
            lambda r: any(s.rejected_total == rejected for s in stream_statuses(r)), timeout=30
        )
        for storage in (on_sqlite, on_influx):
            await eventually(
                lambda s=storage: stored_rejected_total(s, rejected), what="rejected_total stored"
            )
        await eventually(
            lambda: len(worker.spool.deadletters(reason=RECORD_REJECT)) >= 2, what="reject samples stored"
        )
        await asyncio.sleep(1.5)  # another status interval: a babble must not have sent more samples
        letters = worker.spool.deadletters(reason=RECORD_REJECT)
    statuses = stream_statuses(recorder)
    assert len(statuses) >= 2
    assert {s.state for s in statuses} == {"ok"}
    assert statuses[-1].requests_total == rejected + 2
    assert statuses[-1].errors_total == rejected
    # One sample per kind: the bad GVW (the field named) and the wrong checksum, not 55 messages.
    samples = [m for _t, m in recorder.received if isinstance(m, RecordReject)]
    assert sorted({(m.reason, m.field) for m in samples}) == [("bad_field", "gvw"), ("checksum", "checksum")]
    assert len({m.seq for m in samples}) == 2
    assert sorted(letter.detail for letter in letters) == [
        "wim-1: bad_field: gvw: '3164O' is not a number",
        "wim-1: checksum: " + next(m.problem for m in samples if m.reason == "checksum"),
    ]
    gvw = next(m for m in samples if m.field == "gvw")
    assert gvw.excerpt.startswith("412,2026-11-28 14:04:17.25,1,1,42.5,6B,3164O,3,")
    assert all(letter.topic.endswith("/soekarno-hatta-km13/wim-1/rejects") for letter in letters)
