"""bench/nodered.py on a tiny queue, so the Node-RED flow of bench/ingest_throughput.py (`--node-red`) cannot
rot: Node-RED drains 200 pre-queued messages from its persistent session into InfluxDB, every reading stored
once as the point pantau would store. Skipped where node and npm are missing or npm cannot install Node-RED
(no registry): the first run installs it into var/bench/node-red (about 15 s), later runs take about 5 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import nodered
from bench.ingest_throughput import Bench, payloads
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]  # starts Node-RED (node), may run npm first

MESSAGES = 200
CHANNELS = 2


@pytest.fixture(scope="module")
def node_red_installed() -> dict[str, str]:
    try:
        return nodered.install(timeout=120)
    except nodered.NodeRedUnavailable as exc:
        pytest.skip(f"Node-RED cannot be installed here: {exc}")


def test_node_red_flow_drains_the_queue_into_influxdb(
    node_red_installed: dict[str, str], mosquitto: Mosquitto, influxd: Influxd, tmp_path: Path
) -> None:
    assert node_red_installed["node-red"].startswith("4.1.")
    bench = Bench(mosquitto, influxd, tmp_path, MESSAGES)
    bench.node_red(payloads(MESSAGES, CHANNELS), CHANNELS, 0)
    database = f"bench_{bench._databases}"
    try:
        assert bench.failures == []
        (run,) = bench.runs
        assert (run.flow, run.readings) == ("node-red", MESSAGES * CHANNELS)
        assert run.rate > 0 and run.worker_cpu_s > 0
        # pantau's point shape (backend/storage/schema.py): measurement, tags, the reading's fields.
        body = influxd.query('SELECT * FROM "pantau_raw"."reading" WHERE seq = 7', database)
        (series,) = body["results"][0]["series"]
        rows = [dict(zip(series["columns"], values, strict=True)) for values in series["values"]]
        assert sorted(row["channel"] for row in rows) == ["ch0", "ch1"]
        assert {
            (row["site"], row["device"], row["gateway"], row["unit"], row["quality"]) for row in rows
        } == {("ampal-mufakat", "wl-7", "gw-bench", "m", "good")}
        assert sorted(row["value"] for row in rows) == [7.0, 7.1]
        tags = influxd.query('SHOW TAG KEYS FROM "reading"', database)["results"][0]["series"][0]["values"]
        assert sorted(key for (key,) in tags) == ["channel", "device", "site"]
    finally:
        influxd.drop_database(database)
