"""The gateway end to end: simulated devices on a pty RS-485 line, a real Mosquitto, the real runtime."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from drivers.profiles import load_profile
from drivers.sim.record_device import SimulatedRecordDevice, serve_tcp
from drivers.sim.traffic import TrafficGenerator
from gateway.outbox import Outbox
from gateway.runtime import Gateway, RuntimeOptions
from pantau.contract import DeviceStatus, GatewayStatus, Quality, Readings, Vehicle
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.records.profile import RecordProfile
from pantau.site.config import load_site
from tests.gateway.conftest import FieldSite, recording
from tests.gateway.test_cli import pantau
from tests.harness.binaries import require_binary
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port, start_with_port_retries

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def running(site_file: Path, metrics_address: tuple[str, int] | None = None) -> AsyncIterator[Gateway]:
    runtime = Gateway(load_site(site_file), site_file, RuntimeOptions(metrics_address=metrics_address))
    task = asyncio.create_task(runtime.run(), name="gateway")
    try:
        yield runtime
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def readings_of(recorder_items: list, device: str) -> list[Readings]:  # type: ignore[type-arg]
    """A device's readings in sequence order, redeliveries (at-least-once) counted once."""
    unique = {m.seq: m for _t, m in recorder_items if isinstance(m, Readings) and m.device == device}
    return [unique[seq] for seq in sorted(unique)]


def assert_gapless(seqs: list[int]) -> None:
    assert seqs, "nothing received"
    missing = sorted(set(range(min(seqs), max(seqs) + 1)) - set(seqs))
    assert not missing, f"sequence numbers never delivered: {missing[:20]}"


async def test_gateway_publishes_valid_messages_on_the_right_topics_at_the_configured_rate(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    site_file = field_site.site_file(mosquitto, prefix=mqtt_topic_root)
    async with recording(mosquitto, mqtt_topic_root, client_id="rec-rate") as recorder, running(site_file):
        await recorder.wait_for(lambda r: len(readings_of(r.received, "rain")) >= 4, timeout=30)
    assert recorder.invalid == []
    for device in ("wl-radar", "wl-pressure", "rain"):
        messages = readings_of(recorder.received, device)
        assert len(messages) >= 4
        stamps = [m.ts.timestamp() for m in messages]
        # on the 1 s grid: consecutive readings one interval apart, not drifting
        assert all(abs((b - a) - 1.0) < 0.35 for a, b in itertools.pairwise(stamps)), stamps
        assert all(m.gateway == "gw-test" and m.site == "ampal-mufakat" for m in messages)
    radar = readings_of(recorder.received, "wl-radar")[-1]
    assert radar.channels["level_from_distance"].quality is Quality.GOOD
    assert 0 < (radar.channels["level_from_distance"].value or 0) < 6.2
    topics = {t for t, _m in recorder.received}
    assert f"{mqtt_topic_root}/ampal-mufakat/wl-radar/readings" in topics
    assert f"{mqtt_topic_root}/ampal-mufakat/status" in topics
    statuses = [m for _t, m in recorder.received if isinstance(m, DeviceStatus)]
    assert {s.device for s in statuses} == {"wl-radar", "wl-pressure", "rain"}
    assert any(isinstance(m, GatewayStatus) and m.state == "online" for _t, m in recorder.received)
    assert_gapless(recorder.seqs())


async def test_one_dead_device_costs_the_others_at_most_one_timeout(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    field_site.devices["wl-radar"].faults.no_reply = True  # first on the bus, and dead
    site_file = field_site.site_file(mosquitto, prefix=mqtt_topic_root)
    async with recording(mosquitto, mqtt_topic_root, client_id="rec-dead") as recorder, running(site_file):
        await recorder.wait_for(lambda r: len(readings_of(r.received, "wl-pressure")) >= 6, timeout=30)
    pressure = readings_of(recorder.received, "wl-pressure")
    assert all(m.channels["water_column"].quality is Quality.GOOD for m in pressure)
    # read at most one 300 ms timeout (plus bus turnaround) after its grid slot, never later
    lateness = [m.ts.timestamp() % 1.0 for m in pressure]
    assert max(lateness) < 0.3 + 0.4, lateness
    radar = readings_of(recorder.received, "wl-radar")
    assert radar, "the dead device's missing readings are still published"
    assert {m.channels["level"].reason for m in radar} == {"timeout"}
    assert len(radar) < len(pressure)  # retried on a stretching grid, not every interval
    failing = [m for _t, m in recorder.received if isinstance(m, DeviceStatus) and m.device == "wl-radar"]
    assert failing[-1].state == "failing"
    assert failing[-1].reason == "timeout"


#: Seven reconnect attempts and more at the site's 2 s reconnect cap, and a backlog of some 50 messages from
#: three devices on the 1 s grid: what a longer outage adds is more of the same. A backlog of thousands,
#: replayed batch after batch, is tests/scenarios/test_broker_outage.py's (72 hours in virtual time).
OUTAGE_S = 15


@pytest.fixture
def private_broker(tmp_path: Path) -> Mosquitto:
    broker = Mosquitto(tmp_path / "broker", require_binary("mosquitto", "mosquitto"), persistence=True)
    start_with_port_retries(broker)
    yield broker  # type: ignore[misc]
    broker.stop()


async def test_broker_outage_loses_nothing_and_replays_in_order(
    field_site: FieldSite, private_broker: Mosquitto
) -> None:
    site_file = field_site.site_file(private_broker)
    async with recording(private_broker, client_id="rec-outage") as recorder, running(site_file) as gateway:
        await recorder.wait_for(lambda r: len(readings_of(r.received, "wl-pressure")) >= 3, timeout=30)
        private_broker.stop()  # SIGTERM: the broker saves its persistent sessions (ours included)
        # Without them the gateway, reconnecting before the recorder, would publish to no subscriber.
        assert (private_broker.workdir / "mosquitto.db").exists(), "the broker saved no sessions"
        await asyncio.sleep(OUTAGE_S)
        queued = gateway.outbox.state().depth
        assert queued >= OUTAGE_S  # readings kept accumulating in the outbox meanwhile
        assert gateway.publisher.stats.connect_failures_total >= 3  # and the gateway kept trying the broker
        private_broker.start()
        target = gateway.outbox.state().next_seq - 1
        first = min(recorder.seqs())

        def expected() -> set[int]:
            # Everything up to `target` (newer messages arriving says nothing about the backlog), except
            # the live connection's Last Will: its number is delivered when the connection ends.
            armed = {will.seq for will in gateway.outbox.wills(armed=True)}
            return set(range(first, target + 1)) - armed

        with contextlib.suppress(TimeoutError):  # a lost message is reported below, by number
            await recorder.wait_for(lambda r: expected() <= set(r.seqs()), 30)
        wanted = expected()
    assert recorder.invalid == []
    missing = sorted(wanted - set(recorder.seqs()))
    assert not missing, f"never delivered: {missing[:20]} ({len(missing)} of {len(wanted)})"
    pressure = readings_of(recorder.received, "wl-pressure")
    stamps = sorted(m.ts.timestamp() for m in pressure)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) < 1.5, "a reading taken during the outage never arrived"
    # the backlog itself arrives oldest first
    backlog = [m.seq for _t, m in recorder.received if isinstance(m, Readings) and m.seq < target]
    first_arrivals = list(dict.fromkeys(backlog))  # a redelivered duplicate keeps its first place
    assert first_arrivals == sorted(first_arrivals)


def gateway_process(site_file: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pantau",
                "gateway",
                "run",
                "--config",
                str(site_file),
                "--metrics",
                "off",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )


async def test_sigkill_and_restart_leave_no_gap_in_sequence_numbers(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    site_file = field_site.site_file(mosquitto, prefix=mqtt_topic_root, poll_interval="500ms")
    async with recording(mosquitto, mqtt_topic_root, client_id="rec-kill") as recorder:
        for round_ in range(2):
            process = gateway_process(site_file, tmp_path / "gateway.log")
            before = len(recorder.received)
            await recorder.wait_for(lambda r, before=before: len(r.received) >= before + 15, timeout=30)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills = round_ + 1
        # a last, clean run replays whatever the killed ones had stored but not delivered
        process = gateway_process(site_file, tmp_path / "gateway.log")
        await recorder.wait_for(lambda r: len(r.received) >= 60, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        final = Outbox(field_site.workdir / "outbox.db").state()
        # the clean stop's `offline` goes out last, carrying the number reserved for its will
        await recorder.wait_for(lambda r: set(range(final.next_seq)) <= set(r.seqs()), timeout=15)
    assert recorder.invalid == []
    assert final.depth == 0
    assert_gapless(recorder.seqs())
    wills = [
        m for _t, m in recorder.received if isinstance(m, GatewayStatus) and m.reason == "connection_lost"
    ]
    # each killed connection's Last Will arrived (from the broker, and again from the gateway's replay)
    assert len({m.seq for m in wills}) == kills
    clean = [m for _t, m in recorder.received if isinstance(m, GatewayStatus) and m.reason == "shutdown"]
    assert len(clean) == 1


async def test_a_full_outbox_drops_the_oldest_and_says_so(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    # A week offline, compressed: the outbox already holds more than its quota when the gateway starts.
    backlog = Outbox(field_site.workdir / "outbox.db")
    filler = b"x" * 10_000
    for _ in range(15):
        backlog.append([lambda _seq: (f"{mqtt_topic_root}/old", filler, False)] * 10)
    backlog.close()
    site_file = field_site.site_file(
        mosquitto,
        prefix=mqtt_topic_root,
        outbox={"path": str(field_site.workdir / "outbox.db"), "max_size": "1MB"},
    )
    async with (
        recording(mosquitto, mqtt_topic_root, client_id="rec-full") as recorder,
        running(site_file) as gateway,
    ):
        await recorder.wait_for(
            lambda r: any(
                isinstance(m, GatewayStatus) and m.outbox and m.outbox.dropped_total for _t, m in r.received
            ),
            timeout=30,
        )
        state = gateway.outbox.state()
    assert state.dropped_total > 0
    assert state.bytes <= 1_000_000
    reported = [m for _t, m in recorder.received if isinstance(m, GatewayStatus) and m.outbox]
    assert reported[-1].outbox is not None
    # The status counts the drops when it was built; making room for it (or a later poll) may drop more.
    assert 0 < reported[-1].outbox.dropped_total <= state.dropped_total


async def test_report_on_change_publishes_moves_and_heartbeats(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    site_file = field_site.site_file(mosquitto, prefix=mqtt_topic_root)
    document = yaml.safe_load(site_file.read_text())
    pressure = document["buses"][0]["devices"][1]
    pressure["report_on_change"] = {"deadband": {"water_column": 100.0, "level": 100.0}, "heartbeat": 3}
    site_file.write_text(yaml.safe_dump(document))
    async with recording(mosquitto, mqtt_topic_root, client_id="rec-roc") as recorder, running(site_file):
        await recorder.wait_for(lambda r: len(readings_of(r.received, "wl-radar")) >= 7, timeout=30)
    sent = readings_of(recorder.received, "wl-pressure")
    with_level = [m for m in sent if "level" in m.channels]
    # first poll, then every third poll (heartbeat); pressure_unit has no deadband and goes every time
    assert 2 <= len(with_level) <= 4
    assert len(sent) >= 6


async def test_wim_records_and_weighings_become_vehicle_messages(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    wim_port, bridge_port = free_port(), free_port()
    wim = load_profile(PROFILE_DIR / "generic-wim-csv.yaml")
    bridge = load_profile(PROFILE_DIR / "rinstrum-r320.yaml")
    assert isinstance(wim, RecordProfile) and isinstance(bridge, RecordProfile)
    traffic = TrafficGenerator(overload_share=0.5, seed=7)
    simulators = [
        asyncio.create_task(
            serve_tcp(
                SimulatedRecordDevice(wim, traffic, truck_every=timedelta(seconds=0.5)), "127.0.0.1", wim_port
            )
        ),
        asyncio.create_task(
            serve_tcp(
                SimulatedRecordDevice(bridge, traffic, truck_every=timedelta(seconds=7)),
                "127.0.0.1",
                bridge_port,
            )
        ),
    ]
    document = yaml.safe_load((REPO / "firmware_configs/sites/soekarno-hatta-km13.yaml").read_text())
    document["mqtt"] = {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": mqtt_topic_root}
    document["outbox"] = {"path": str(tmp_path / "outbox.db")}
    document["buses"][0]["connection"] = {"kind": "tcp", "host": "127.0.0.1", "port": wim_port}
    document["buses"][1]["connection"] = {"kind": "tcp", "host": "127.0.0.1", "port": bridge_port}
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    metrics_port = free_port()
    try:
        async with (
            recording(mosquitto, mqtt_topic_root, client_id="rec-wim") as recorder,
            running(site_file, ("127.0.0.1", metrics_port)),
        ):
            await recorder.wait_for(
                lambda r: (
                    any(isinstance(m, Vehicle) and m.source == "weighbridge" for _t, m in r.received)
                    and sum(isinstance(m, Vehicle) and m.source == "wim" for _t, m in r.received) >= 5
                ),
                timeout=40,
            )
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            status = await asyncio.to_thread(
                pantau,
                "gateway",
                "status",
                "--config",
                str(site_file),
                "--metrics",
                f"127.0.0.1:{metrics_port}",
            )
    finally:
        for task in simulators:
            task.cancel()
        await asyncio.gather(*simulators, return_exceptions=True)
    assert recorder.invalid == []
    trucks = [m for t, m in recorder.received if isinstance(m, Vehicle) and t.endswith("/wim-1/vehicles")]
    # The generic CSV carries no tyre types, so groups come from the spacings; the simulator names the JBI
    # configuration in the class column, and both must agree.
    assert all(t.groups == [len(g.split(".")) for g in (t.vehicle_class or "").split("-")] for t in trucks)
    assert all(abs(t.gvw_kg - sum(a.load_kg for a in t.axles)) < 1 for t in trucks)
    weighing = next(m for _t, m in recorder.received if isinstance(m, Vehicle) and m.source == "weighbridge")
    assert weighing.device == "weighbridge-1"
    assert weighing.gvw_kg > 5000
    links = {m.device: m.state for _t, m in recorder.received if isinstance(m, DeviceStatus)}
    assert links == {"wim-1": "ok", "weighbridge-1": "ok"}
    # Each link's health for Prometheus and `pantau gateway status`.
    records = re.search(r'pantau_stream_records_total\{[^}]*device="wim-1"[^}]*\} (\S+)', metrics)
    assert records and float(records[1]) >= 5, metrics
    assert re.search(r'pantau_stream_connected\{[^}]*device="weighbridge-1"[^}]*\} 1\.0', metrics)
    assert "pantau_stream_checksum_failures_total{" in metrics
    assert status.returncode == 0, status.stderr
    assert re.search(r"stream wim-1: connected, \d+ records, 0 malformed", status.stdout), status.stdout
    assert_gapless(recorder.seqs())


async def test_mqtt_311_is_selectable(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    site_file = field_site.site_file(mosquitto, prefix=mqtt_topic_root)
    document = yaml.safe_load(site_file.read_text())
    document["mqtt"]["protocol"] = 311
    site_file.write_text(yaml.safe_dump(document))
    log_from = mosquitto.events_path.stat().st_size
    async with recording(mosquitto, mqtt_topic_root, client_id="rec-311") as recorder, running(site_file):
        await recorder.wait_for(lambda r: len(readings_of(r.received, "wl-pressure")) >= 2, timeout=30)
    assert recorder.invalid == []
    assert_gapless(recorder.seqs())
    # and it really spoke 3.1.1: the broker logs the protocol of each connection (p2: 3.1.1, p5: 5)
    log = mosquitto.events_path.read_bytes()[log_from:].decode()
    gateway_id = document["gateway"]
    assert re.search(rf"New client connected from \S+ as {gateway_id} \(p2,", log), log
