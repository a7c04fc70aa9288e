"""The fault rig: a river site and its backend as real processes, and the faults a scenario injects.

    TallyDevice wl-tcp (Modbus TCP) ─┐
                                     ├─ pantau gateway run ─ TcpProxy ─ Mosquitto ─ pantau backend run
    TallyDevice wl-rtu (RTU, pty)  ──┘   (outbox on disk)    (the 4G link)            └─ influxd | SQLite

Every process a fault hits is a child the rig can SIGKILL and start again on the same ports and files.
Back-off caps are 1 s and keepalives 2 s, so a scenario lasts seconds (the product's defaults are minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import ALL_TAGS, Retention, SeriesQuery, Storage
from backend.storage.schema import READING
from backend.storage.sqlite import SqliteStorage
from gateway.outbox import Outbox, OutboxState
from pantau.contract import Readings, Topics, decode
from tests.harness.backend import backend_config
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.modbus import ModbusServerThread
from tests.harness.mosquitto import Mosquitto
from tests.harness.pantau_processes import BackendProcess, GatewayProcess
from tests.harness.process import start_with_port_retries, wait_until
from tests.harness.serial_pty import SocatPtyPair
from tests.harness.tally_device import CHANNEL, PROFILE, SCALE, Line, TallyDevice
from tests.harness.tcp_proxy import Mode, TcpProxy

SITE, GATEWAY = "ampal-mufakat", "gw-fault"
POLL_INTERVAL = "250ms"
BAUDRATE = 19200
QUOTA = 1_000_000  # the outbox's smallest allowed max_size ("1MB")
FILLER = 10_000
StorageKind = Literal["influx", "sqlite"]


@dataclass
class Rig:
    workdir: Path
    prefix: str
    broker: Mosquitto
    proxy: TcpProxy
    devices: dict[str, TallyDevice]
    gateway: GatewayProcess
    backend: BackendProcess
    storage_kind: StorageKind
    influxd: Influxd | None
    database: str
    outbox_path: Path
    backend_client: str
    broker_started_at: int = 0  # where the broker's event log stood when it last started
    disk: Path | None = None  # the outbox's own small filesystem, when there is one
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: time.monotonic() when each SIGKILL of the gateway was asked for and when it was dead: the poll then
    #: in its hands was read, not stored.
    gateway_kills: list[tuple[float, float]] = field(default_factory=list)
    #: Each time the gateway stopped by itself: how (a fault it should have survived, or a designed exit).
    gateway_exits: list[str] = field(default_factory=list)
    #: Per device, the numbers the outbox dropped to stay within its quota (seen queued, then gone).
    quota_dropped: dict[str, set[int]] = field(default_factory=dict)
    #: time.monotonic() when the outbox's disk was filled and when it was freed again.
    disk_full: list[tuple[float, float]] = field(default_factory=list)

    # Faults ------------------------------------------------------------------------------------------

    def kill_gateway(self) -> None:
        asked = time.monotonic()
        self.gateway.kill()
        self.gateway_kills.append((asked, time.monotonic()))

    def start_gateway(self) -> None:
        self.gateway.start()

    def kill_backend(self) -> None:
        self.backend.kill()

    def start_backend(self) -> None:
        self.backend.start()

    # The proxy stops listening while the broker is down, so the gateway is refused as it would be
    # without a proxy in between (tests/harness/tcp_proxy.py says why).
    def kill_broker(self) -> None:
        """SIGKILL the broker at a random moment. What it had acknowledged but neither delivered nor saved
        is gone from the broker; the gateway keeps every message until the backend's receipt and sends again
        what later receipts show was skipped (docs/contract.md, `receipt`)."""
        self.crash_broker()

    def crash_broker(self) -> None:
        self.proxy.refuse()
        self.broker.kill()

    def backend_connected(self) -> bool:
        """Whether the broker's log shows the backend connected since the broker last started."""
        with self.broker.events_path.open("rb") as log:
            log.seek(self.broker_started_at)
            lines = [
                line
                for line in log.read().decode(errors="replace").splitlines()
                if self.backend_client in line
            ]
        return bool(lines) and "New client connected" in lines[-1]

    def stop_broker(self) -> None:
        """SIGTERM: with persistence the broker saves its sessions and queues first."""
        self.proxy.refuse()
        self.broker.stop()

    def start_broker(self) -> None:
        self.broker_started_at = _size(self.broker.events_path)
        self.broker.start()  # same port: clients reconnect to the address they know
        self.proxy.accept()

    def kill_influxd(self) -> None:
        assert self.influxd is not None
        self.influxd.kill()

    def stop_influxd(self) -> None:
        assert self.influxd is not None
        self.influxd.stop()

    def start_influxd(self) -> None:
        assert self.influxd is not None
        self.influxd.start()

    def cut_link(self, mode: Mode) -> None:
        self.proxy.cut(mode)

    def heal_link(self) -> None:
        self.proxy.heal()

    def heal_all(self) -> None:
        """Every fault over: each service up, the link whole, the devices well (the end of a scenario)."""
        self.proxy.heal()
        for device in self.devices.values():
            device.faults.no_reply = False
            device.faults.exception_code = None
            device.garbage.probability = 0.0
        if self.disk is not None:
            self.free_disk()
        if self.influxd is not None and not self.influxd.running:
            self.influxd.start()
        if not self.broker.running:
            self.start_broker()
        if not self.backend.running:
            self.backend.start()
        self.revive_gateway()
        if not self.gateway.running:
            self.gateway.start()

    def fill_outbox(self) -> None:
        """The quota reached, as after days offline: filler (on a topic no one reads) is queued behind the
        waiting readings until the outbox holds more than its quota, so the gateway drops the oldest.
        The readings seen queued before and gone after were dropped; they are counted in dropped_total."""
        before = self.queued_readings()
        outbox = Outbox(self.outbox_path, max_bytes=QUOTA)
        try:
            filler = b"x" * FILLER
            outbox.append([lambda _seq: (f"{self.prefix}-filler/old", filler, False)] * (QUOTA // FILLER))
        finally:
            outbox.close()
        after = self.queued_readings()
        for device, values in before.items():
            self.quota_dropped.setdefault(device, set()).update(values - after.get(device, set()))

    def queued_readings(self) -> dict[str, set[int]]:
        outbox = Outbox(self.outbox_path)
        topics = Topics(self.prefix)
        queued: dict[str, set[int]] = {}
        try:
            for message in outbox.pending(limit=100_000):
                if not message.topic.endswith("/readings"):
                    continue
                readings = decode(message.payload, topic=message.topic, topics=topics)
                assert isinstance(readings, Readings)
                reading = readings.channels.get(CHANNEL)
                if reading is not None and isinstance(reading.value, int | float):
                    queued.setdefault(readings.device, set()).add(round(reading.value * SCALE))
        finally:
            outbox.close()
        return queued

    def fill_disk(self) -> None:
        """Fill the outbox's filesystem to the last byte (ENOSPC for the gateway's next commit)."""
        assert self.disk is not None
        self.disk_full.append((time.monotonic(), float("inf")))
        ballast = os.open(self.disk / "ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (65536, 4096, 512, 1):  # to the last byte: big chunks, then smaller ones
                with contextlib.suppress(OSError):
                    while os.write(ballast, b"\0" * size):
                        pass
        finally:
            os.close(ballast)

    def free_disk(self) -> None:
        assert self.disk is not None
        (self.disk / "ballast").unlink(missing_ok=True)
        if self.disk_full and self.disk_full[-1][1] == float("inf"):
            self.disk_full[-1] = (self.disk_full[-1][0], time.monotonic())

    def revive_gateway(self) -> None:
        """A gateway that stopped by itself is noted and started again (systemd's Restart=always)."""
        code = self.gateway.exited
        if code is not None:
            self.gateway_exits.append(f"exited {code}: {self.gateway.log_tail(3)}")
            self.gateway.stop()
            self.gateway.start()

    # What was stored ---------------------------------------------------------------------------------

    def open_storage(self) -> Storage:
        if self.storage_kind == "influx":
            assert self.influxd is not None
            return InfluxStorage(InfluxConfig(url=self.influxd.url, database=self.database), Retention())
        return SqliteStorage(self.workdir / "backend" / "pantau.sqlite3", Retention())

    async def stored(self) -> dict[str, list[tuple[int, int | None]]]:
        """Per device: (time in µs, the device's number) of every stored reading of the counter channel;
        None for a poll the gateway reported failed (quality missing or bad, no value)."""
        storage = self.open_storage()
        query = SeriesQuery(
            READING,
            ("value", "quality"),
            self.started_at - timedelta(hours=1),
            datetime.now(UTC) + timedelta(hours=1),
            tags={"site": SITE, "channel": CHANNEL},
            group_by=ALL_TAGS,
        )
        try:
            await storage.setup()
            series = await storage.query(query)
        finally:
            await storage.close()
        found: dict[str, list[tuple[int, int | None]]] = {name: [] for name in self.devices}
        for one in series:
            rows = found.setdefault(one.tags["device"], [])
            for row in one.rows:
                value, at = row.values.get("value"), int(row.time.timestamp() * 1e6)
                if isinstance(value, int | float):
                    rows.append((at, round(value * SCALE)))
                elif row.values.get("quality") in ("missing", "bad"):
                    rows.append((at, None))
        return found

    def outbox_state(self) -> tuple[int, int]:
        """(queued messages, dropped_total) as the gateway persisted them."""
        state = self.outbox_counts()
        return state.depth, state.dropped_total

    def outbox_counts(self) -> OutboxState:
        """The outbox's state as the gateway persisted it (its unstored_total: once it stored again)."""
        outbox = Outbox(self.outbox_path)
        try:
            return outbox.state()
        finally:
            outbox.close()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def site_document(rig: dict[str, Any]) -> dict[str, Any]:
    device = {"profile": PROFILE, "poll_interval": POLL_INTERVAL}
    timing = {"timeout": "300ms", "inter_frame_delay": "5ms", "retries": 0, "backoff_cap": "1s"}
    return {
        "site": SITE,
        "name": "Sungai Ampal — Mufakat (fault suite)",
        "kind": "river_gauge",
        "location": {"lat": -1.2494, "lon": 116.8586},
        "gateway": GATEWAY,
        "mqtt": {
            "host": rig["proxy"].host,
            "port": rig["proxy"].port,
            "topic_prefix": rig["prefix"],
            "reconnect_cap": "1s",
            "keepalive": "2s",
            # Receipts (end-to-end acknowledgement): a scenario is seconds long, so is the grace.
            "receipt_grace": "2s",
            "client_id": f"gw-fault-{rig['prefix'].rsplit('/', 1)[-1]}",
        },
        "outbox": {"path": str(rig["outbox"]), "max_size": str(QUOTA)},
        "status_interval": "2s",
        "buses": [
            {
                "id": "tcp-1",
                "kind": "modbus",
                "connection": {"transport": "tcp", "host": "127.0.0.1", "port": rig["tcp_port"]},
                "timing": timing,
                "devices": [{"id": "wl-tcp", "unit": 1, **device}],
            },
            {
                "id": "rs485-1",
                "kind": "modbus",
                "connection": {"transport": "rtu", "port": str(rig["pty"]), "baudrate": BAUDRATE},
                "timing": timing,
                "devices": [{"id": "wl-rtu", "unit": 2, **device}],
            },
        ],
    }


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int) -> Any:
    """A tmpfs of `size_kb` at `path` (the outbox's disk), if this machine lets the tests mount one."""
    path.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)]
    mounted = shutil.which("mount") is not None and (
        subprocess.run(command, capture_output=True, check=False).returncode == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.asynccontextmanager
async def assembled(
    workdir: Path,
    prefix: str,
    *,
    storage: StorageKind,
    influxd: Influxd | None,
    database: str,
    persistence: bool,
    autosave_s: int = 10,
    outbox_dir: Path | None = None,
) -> AsyncIterator[Rig]:
    """Everything started, the backend subscribed and the gateway's link open; all stopped after the block."""
    stack = contextlib.ExitStack()
    with stack:
        # The shipped config saves every 10 s (backend/deploy/mosquitto/mosquitto.conf): a broker crash loses
        # what changed since. A production broker saved the backend's session long before any crash; this
        # one is told to save (SIGUSR1) once the backend subscribed, so a scenario starts from the same.
        broker = Mosquitto(
            workdir / "broker",
            require_binary("mosquitto", "mosquitto"),
            persistence=persistence,
            extra_config=f"autosave_interval {autosave_s}",
        )
        start_with_port_retries(broker)
        stack.callback(broker.stop)
        proxy = TcpProxy(broker.host, broker.port)
        proxy.start()
        proxy.refuse()  # until the backend subscribed: what the gateway reads meanwhile waits in its outbox
        stack.callback(proxy.stop)

        if storage == "influx":
            assert influxd is not None
            stored_in: dict[str, Any] = {
                "influx": {"url": influxd.url, "database": database, "retry_for": "1s"}
            }
        else:
            stored_in = {"sqlite": {"path": str(workdir / "backend" / "pantau.sqlite3")}}
        config = backend_config(broker, prefix, workdir / "backend", storage=stored_in)
        backend = BackendProcess(workdir / "backend", config)
        stack.callback(backend.kill)
        # Python's start-up is most of a scenario's set-up: the backend starts while the rest is put up.
        starting = asyncio.create_task(asyncio.to_thread(backend.start), name="start backend")

        tcp_device, rtu_device = TallyDevice("wl-tcp", 1), TallyDevice("wl-rtu", 2)
        tcp_server = ModbusServerThread([tcp_device.sim_device()], trace_packet=Line([tcp_device]).trace)
        tcp_server.start()
        stack.callback(tcp_server.stop)
        pty = SocatPtyPair(workdir / "pty", require_binary("socat", "socat"))
        pty.start()
        stack.callback(pty.stop)
        rtu_server = ModbusServerThread(
            [rtu_device.sim_device()],
            serial_port=pty.device_end,
            baudrate=BAUDRATE,
            trace_packet=Line([rtu_device]).trace,
        )
        rtu_server.start()
        stack.callback(rtu_server.stop)

        outbox = (outbox_dir or workdir) / "outbox.db"
        site_file = workdir / "site.yaml"
        document = site_document(
            {
                "proxy": proxy,
                "prefix": prefix,
                "outbox": outbox,
                "tcp_port": tcp_server.port,
                "pty": pty.host_end,
            }
        )
        site_file.write_text(yaml.safe_dump(document, allow_unicode=True))
        gateway = GatewayProcess(workdir / "gateway", site_file)
        gateway.start()  # does not wait: it starts up while the backend does
        # After counting nothing is left to deliver: SIGKILL stops both at once (SIGTERM flushes for seconds).
        stack.callback(gateway.kill)

        await starting  # the backend, subscribed
        if persistence:
            os.kill(broker.pid, signal.SIGUSR1)
        proxy.accept()
        # The faults start on a live link: a gateway slow to start (a loaded machine) whose first connection
        # came only after a link fault had healed would leave that fault cutting nothing.
        connected = await asyncio.to_thread(wait_until, lambda: proxy.connections_total > 0, 60)
        assert connected, f"the gateway never connected through the link:\n{gateway.log_tail()}"

        rig = Rig(
            workdir=workdir,
            prefix=prefix,
            broker=broker,
            proxy=proxy,
            devices={d.device_id: d for d in (tcp_device, rtu_device)},
            gateway=gateway,
            backend=backend,
            storage_kind=storage,
            influxd=influxd,
            database=database,
            outbox_path=outbox,
            backend_client=str(config.mqtt.client_id),
            disk=outbox_dir,
        )
        yield rig


Action = Callable[[Rig], None]
