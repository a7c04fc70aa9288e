"""`pantau demo` as one process: simulators, the real gateways and backend, an embedded broker, one TaskGroup.

    sim[<bus>]         a simulator per bus: Modbus RTU on a virtual serial cable, Modbus TCP, WIM records
                       on TCP, weighbridge frames on a virtual serial cable
    gateway[<site>]    gateway.runtime.Gateway, exactly as in the field, from the demo's site files
    backend            backend.worker.BackendWorker: ingest, storage, rules, alerts, API
    status             the live status line
    duration           (with --duration) stops the demo as Ctrl-C does

The broker (unless --broker names one) and the virtual cables live around the TaskGroup, so on Ctrl-C the
gateways still reach the broker to say `offline` and the backend drains its spool before they close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from backend.worker import BackendWorker
from drivers.sim.virtual_cable import VirtualCable
from gateway.runtime import Gateway, RuntimeOptions
from pantau_demo.broker import EmbeddedBroker
from pantau_demo.configs import Broker, DemoFiles, Links, serial_buses, tcp_buses, write_demo_files
from pantau_demo.devices import World, simulators
from pantau_demo.status import StatusLine

logger = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"
LISTEN_TIMEOUT_S: Final = 5.0
MQTT_PORT: Final = 1883


class PortBusy(Exception):
    """A port the demo was told to use is taken."""


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    api_port: int = 8000
    mqtt_port: int | None = None  # the embedded broker's: None = 1883 unless taken; 0 = any free port
    broker_url: str | None = None
    influx_url: str | None = None
    duration: float | None = None  # seconds; None = until Ctrl-C


def free_port(avoid: set[int]) -> int:
    """A loopback TCP port that was free a moment ago and is none of `avoid` (ports already handed out:
    a port just released, like the API's after its check, can come straight back from the kernel)."""
    while True:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            avoid.add(port)
            return port


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def check_free(port: int, what: str, option: str) -> None:
    if not is_free(port):
        raise PortBusy(f"{what} port {LOOPBACK}:{port} is taken: choose another with {option}")


class Demo:
    def __init__(self, options: DemoOptions, out: TextIO = sys.stdout) -> None:
        self.options = options
        self.out = out

    async def run(self) -> None:
        o = self.options
        check_free(o.api_port, "API", "--port")
        ports = {o.api_port}
        async with contextlib.AsyncExitStack() as stack:
            cables = {bus: await stack.enter_async_context(VirtualCable()) for bus in serial_buses()}
            if o.broker_url:
                broker = Broker.from_url(o.broker_url)
            else:
                embedded = EmbeddedBroker(LOOPBACK, _mqtt_port(o.mqtt_port, ports))
                await stack.enter_async_context(embedded)
                broker = Broker(embedded.host, embedded.port, 311)
            links = Links(
                serial={bus: cable.host_end for bus, cable in cables.items()},
                tcp={bus: free_port(ports) for bus in tcp_buses()},
            )
            files = write_demo_files(o.workdir, links, broker, api_port=o.api_port, influx_url=o.influx_url)
            world = World.start()
            worker = BackendWorker(files.backend)
            gateways = [
                Gateway(site, path, RuntimeOptions(metrics_address=None)) for site, path in files.sites
            ]
            self._banner(files, broker, embedded=not o.broker_url)
            main = asyncio.current_task()
            async with asyncio.TaskGroup() as tasks:
                for name, serve in simulators(files.sites, cables, world):
                    tasks.create_task(serve(), name=name)
                # The gateways' first connection should find the simulators listening (no warning to read).
                await _listening(list(links.tcp.values()))
                tasks.create_task(worker.run(), name="backend")
                for gateway in gateways:
                    tasks.create_task(gateway.run(), name=f"gateway[{gateway.site.site}]")
                tasks.create_task(StatusLine(worker, gateways, self.out).run(), name="status")
                if o.duration is not None and main is not None:
                    tasks.create_task(_stop_after(o.duration, main), name="duration")

    def _banner(self, files: DemoFiles, broker: Broker, *, embedded: bool) -> None:
        api = f"http://{LOOPBACK}:{self.options.api_port}"
        storage = self.options.influx_url or f"SQLite {files.backend.storage.sqlite.path}"
        where = "embedded amqtt, MQTT 3.1.1" if embedded else "MQTT v5"
        lines = [
            "pantau demo: Sungai Ampal (Mufakat) in a compressed storm, trucks at Jl. Soekarno-Hatta Km 13",
            f"  live page    {api}/",
            f"  API          {api}/api/v1   (interactive docs: {api}/docs)",
            f"  water level  curl '{api}/api/v1/latest?site=ampal-mufakat&quantity=water_level'",
            f"  trucks       curl '{api}/api/v1/vehicles?site=soekarno-hatta-km13&overloaded=true'",
            f"  alerts       curl {api}/api/v1/alerts/active",
            f"  operator key {files.operator_key}  (acknowledge an alert with it:)",
            f"               curl -X POST -H 'X-API-Key: {files.operator_key}' \\",
            f"                 {api}/api/v1/alerts/ALERT_ID/acknowledge",
            f"  broker       mqtt://{broker.host}:{broker.port} ({where}); topics pantau/v1/#",
            f"  storage      {storage}",
            f"  files        {self.options.workdir} (sites, rules, backend.yaml)",
            "  Ctrl-C stops.",
        ]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


def _mqtt_port(wanted: int | None, taken: set[int]) -> int:
    """The port asked for (it must be free), else 1883 unless a broker of the machine's own has it."""
    if wanted:
        check_free(wanted, "MQTT", "--mqtt-port")
        return wanted
    if wanted is None and MQTT_PORT not in taken and is_free(MQTT_PORT):
        return MQTT_PORT
    return free_port(taken)


async def _listening(ports: list[int]) -> None:
    """Wait until every simulator port accepts connections (for a few seconds at most: gateways retry)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LISTEN_TIMEOUT_S):
            for port in ports:
                while True:
                    try:
                        _reader, writer = await asyncio.open_connection(LOOPBACK, port)
                    except OSError:
                        await asyncio.sleep(0.05)
                        continue
                    writer.close()
                    await writer.wait_closed()
                    break


async def _stop_after(seconds: float, main: asyncio.Task[None]) -> None:
    await asyncio.sleep(seconds)
    logger.info("demo duration of %.0f s is over: stopping", seconds)
    main.cancel()  # the same path as Ctrl-C
