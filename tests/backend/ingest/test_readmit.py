"""Dead letters let in again: readings of a site the backend's site files did not list yet are refused
(unknown_site) and the gateway, having the backend's receipt, forgets them; once the site file is added,
`pantau backend deadletter readmit` lets them in and the worker stores them. Before, nothing could: the
dead-letter store held the only copy. Real gateway publisher, Mosquitto, worker, SQLite and the CLI."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import yaml
from click.testing import CliRunner

from backend.cli import backend
from backend.config import BackendConfig
from backend.ingest.readmit import readmit
from backend.ingest.spool import DeadLetter, Spool
from backend.storage.model import ALL_TAGS, SeriesQuery
from backend.storage.schema import READING
from backend.storage.sqlite import SqliteStorage
from pantau.contract import Reading, Readings, Topics, encode
from tests.harness.backend import GATEWAY, SITE, GatewayFactory, backend_config, eventually, running
from tests.harness.mosquitto import Mosquitto

SHIPPED_SITES: Final = Path(__file__).parents[3] / "firmware_configs" / "sites"
T0: Final = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def levels(count: int) -> list[Readings]:
    return [
        Readings(
            site=SITE,
            gateway=GATEWAY,
            seq=n + 1,
            ts=T0 + timedelta(minutes=n),
            device="wl-radar",
            channels={"level": Reading(value=1.0 + n / 10, unit="m")},
        )
        for n in range(count)
    ]


def config_file(config: BackendConfig, path: Path) -> Path:
    """The worker's config as the file an operator would point the CLI at."""
    document = {
        "worker_id": config.worker_id,
        "mqtt": {
            "host": config.mqtt.host,
            "port": config.mqtt.port,
            "topic_prefix": config.mqtt.topic_prefix,
        },
        "spool": {"path": str(config.spool_path)},
        "sites": str(config.sites),
    }
    path.write_text(yaml.safe_dump(document))
    return path


async def test_dead_letters_of_a_site_added_since_are_let_in_and_stored(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    sqlite_storage: SqliteStorage,
    gateway: GatewayFactory,
) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    shutil.copy(SHIPPED_SITES / "soekarno-hatta-km13.yaml", sites)  # ampal-mufakat not listed yet
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path, sites=str(sites))
    async with running(config, sqlite_storage) as worker, gateway() as gw:
        await gw.send(levels(5))
        # The five readings and the gateway's own `online` status.
        await eventually(
            lambda: worker.spool.deadletter_counts() == {"unknown_site": 6},
            what="the site's messages refused",
        )

    path = config_file(config, tmp_path / "backend.yaml")
    runner = CliRunner()
    args = ["deadletter", "readmit", "--config", str(path)]
    still = runner.invoke(backend, args)
    assert still.exit_code == 0, still.output
    assert "let in 0 dead letter(s)" in still.output
    assert "still refused: unknown_site 6" in still.output

    async def all_five_stored() -> bool:
        query = SeriesQuery(READING, ("value",), T0, T0 + timedelta(hours=1), group_by=ALL_TAGS)
        return sum(len(series.rows) for series in await sqlite_storage.query(query)) == 5

    shutil.copy(SHIPPED_SITES / "ampal-mufakat.yaml", sites)  # the technician's site file, added
    # Let in while a worker runs and nothing else arrives: its writer finds the rows by itself.
    async with running(config, sqlite_storage) as worker:
        await asyncio.wait_for(worker.storage_ready.wait(), 15)  # its writer has looked and found nothing
        dry = runner.invoke(backend, [*args, "--dry-run"])
        assert "would let in 6 dead letter(s)" in dry.output, dry.output
        done = await asyncio.to_thread(runner.invoke, backend, args)  # the worker's loop runs meanwhile
        assert done.exit_code == 0, done.output
        assert done.output.startswith("let in 6 dead letter(s)"), done.output
        await eventually(all_five_stored, what="the let-in readings stored")
    spool = Spool(config.spool_path)
    try:
        assert spool.deadletter_counts() == {}
    finally:
        spool.close()


def test_what_is_no_message_or_cut_short_is_not_judged_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_payload_bytes=400)
    topics = Topics("pantau/v1")
    good = encode(levels(1)[0])
    long = encode(
        levels(1)[0].model_copy(
            update={"seq": 9, "channels": {f"c{n}": Reading(value=1.0, unit="m") for n in range(20)}}
        )
    )
    topic = topics.readings(SITE, "wl-radar")
    spool.add_deadletters(
        [
            DeadLetter(topic, "unknown_site", "then", good, len(good), 1.0),
            DeadLetter(topic, "unknown_site", "then", long, len(long), 1.0),  # stored cut to 400 bytes
            DeadLetter(topic, "bad_json", "then", b"{", 1, 1.0),
            DeadLetter(topic, "record_reject", "a frame", good, len(good), 1.0),
            DeadLetter("storage/reading", "storage_rejected", "type", b"[]", 2, 1.0),
        ]
    )
    done = readmit(spool, topics, None, timedelta(minutes=5))
    assert (done.accepted, done.points) == (1, 1)
    assert done.still_refused == {"bad_json": 1}
    assert done.skipped == {"truncated": 1, "record_reject": 1, "storage_rejected": 1}
    assert spool.deadletter_counts() == {
        "bad_json": 1,
        "record_reject": 1,
        "storage_rejected": 1,
        "unknown_site": 1,
    }
    batch = spool.take(10)
    assert batch is not None
    assert [p.fields["value"] for p in batch.points] == [1.0]
    spool.close()
