"""The gateway process: one TaskGroup with a task per bus, the publisher, periodic status and metrics.

    poll[<bus>]   BusPoller: reads devices on their grid, appends each cycle to the outbox
    records[<id>] RecordStream: every WIM record / weighing becomes a vehicle message in the outbox
    publish       Publisher: outbox -> broker, reconnecting for as long as it takes
    status        gateway status (with outbox depth and drops) every status_interval
    metrics       Prometheus endpoint on metrics_address

Cancelling `run()` (SIGTERM, Ctrl-C) flushes what it can within a few seconds and publishes `offline`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from drivers.modbus.bus import ModbusBus
from drivers.serial_records.config import RecordProfile
from drivers.serial_records.records import VehicleRecord
from drivers.serial_records.stream import RecordStream, StreamCounters
from gateway.clock_sanity import ClockSanity
from gateway.config import SiteConfig
from gateway.inventory import ResolvedModbusBus, ResolvedRecordStream, resolve
from gateway.metrics import registry_for
from gateway.outbox import Builder, Outbox
from gateway.publisher import Identity, Publisher
from gateway.scheduler import BusPoller, ScheduledDevice
from pantau.contract import DeviceStatus, Topics, encode
from pantau.resilience import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)


@dataclass
class RuntimeOptions:
    outbox_path: Path | None = None  # override the site file's (tests, a technician's laptop)
    metrics_address: tuple[str, int] | None = ("127.0.0.1", 9108)
    clock: Clock = SYSTEM_CLOCK


class Gateway:
    def __init__(self, site: SiteConfig, source: Path, options: RuntimeOptions | None = None) -> None:
        self.site = site
        self.options = options or RuntimeOptions()
        self.topics = Topics(site.mqtt.topic_prefix)
        self.resolved = resolve(site, source)
        self.clock = self.options.clock
        self.outbox = Outbox(
            self.options.outbox_path or site.outbox.path,
            max_bytes=site.outbox.max_size,
            max_age=site.outbox.max_age,
            clock=self.clock.time,
        )
        self.identity = Identity(site=site.site, gateway=site.gateway, started_at=self.clock.now())
        #: One look-out on the wall clock for everything this gateway stamps (gateway/clock_sanity.py).
        self.clock_sanity = ClockSanity(self.clock)
        self.publisher = Publisher(
            site.mqtt, self.outbox, self.identity, clock=self.clock, clock_sanity=self.clock_sanity
        )
        self._buses: list[ModbusBus] = []
        self.pollers = [self._poller(bus) for bus in self.resolved if isinstance(bus, ResolvedModbusBus)]
        self.streams = [self._stream(bus) for bus in self.resolved if isinstance(bus, ResolvedRecordStream)]
        self._metrics_server: WSGIServer | None = None

    def _poller(self, resolved: ResolvedModbusBus) -> BusPoller:
        bus, devices = resolved.build(self.clock)
        self._buses.append(bus)
        scheduled = [
            ScheduledDevice(r.config, device) for r, device in zip(resolved.devices, devices, strict=True)
        ]
        return BusPoller(
            resolved.spec.id,
            scheduled,
            self.store,
            site=self.site.site,
            gateway=self.site.gateway,
            topics=self.topics,
            status_interval=self.site.status_interval,
            clock=self.options.clock,
            clock_sanity=self.clock_sanity,
        )

    def _stream(self, resolved: ResolvedRecordStream) -> tuple[RecordStream, str]:
        profile = resolved.device.profile
        assert isinstance(profile, RecordProfile)  # noqa: S101 - guaranteed by resolve()
        return RecordStream(
            profile, resolved.spec.connection, name=resolved.spec.id
        ), resolved.device.config.id

    async def _forward_records(self, stream: RecordStream, device: str) -> None:
        """Every vehicle record becomes a `vehicle` message, stored before anything else happens to it."""
        topic = self.topics.vehicles(self.site.site, device)

        async def on_record(record: VehicleRecord) -> None:
            verdict = self.clock_sanity.check()

            def build(seq: int) -> tuple[str, bytes, bool]:
                message = record.to_message(
                    site=self.site.site, device=device, gateway=self.site.gateway, seq=seq
                )
                return topic, encode(self.clock_sanity.vehicle(message, verdict)), False

            await self.store([build])

        await stream.run(on_record)

    async def _report_stream_health(self, stream: RecordStream, device: str) -> None:
        """Retained device status for a record stream, whenever its link comes up or goes down."""
        topic = self.topics.device_status(self.site.site, device)
        connected: bool | None = None
        while True:
            was = connected  # first report: once the link came up, or failed to
            await stream.wait_until(lambda c: c.connected != was and (c.connected or c.link_failures > 0))  # noqa: B023
            c = stream.counters
            connected, since = c.connected, self.clock.now()

            def build(seq: int, c: StreamCounters = c, since: datetime = since) -> tuple[str, bytes, bool]:
                status = DeviceStatus(
                    site=self.site.site,
                    device=device,
                    gateway=self.site.gateway,
                    seq=seq,
                    ts=since,
                    state="ok" if c.connected else "failing",
                    since=since,
                    last_success=c.last_record_at,
                    consecutive_failures=0 if c.connected else c.link_failures,
                    reason=None if c.connected else "connection",
                    detail=None if c.connected else (c.last_error or "link down")[:256],
                    requests_total=c.frames,
                    errors_total=c.malformed,
                )
                return topic, encode(status), True

            await self.store([build])

    async def store(self, batch: list[Builder]) -> None:
        """Durably queue one cycle's messages, then wake the publisher."""
        if batch and not self.clock_sanity.can_stamp(len(batch)):
            return  # a clock before 2000 dates nothing the contract takes: dropped, counted, logged once
        if batch:
            await asyncio.to_thread(self.outbox.append, batch)
            self.publisher.notify()

    async def run(self) -> None:
        self._start_metrics()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.publisher.run(), name="publish")
                tasks.create_task(self._report_status(), name="status")
                for poller in self.pollers:
                    tasks.create_task(poller.run(), name=f"poll[{poller.name}]")
                for stream, device in self.streams:
                    tasks.create_task(self._forward_records(stream, device), name=f"records[{stream.name}]")
                    tasks.create_task(
                        self._report_stream_health(stream, device), name=f"health[{stream.name}]"
                    )
        finally:
            # The publisher said goodbye itself (flush + `offline`) when the task group cancelled it.
            if self._metrics_server is not None:
                self._metrics_server.shutdown()
                self._metrics_server.server_close()
            for bus in self._buses:
                await bus.close()  # serial ports and device-server connections, released for the next run
            self.outbox.close()

    async def _report_status(self) -> None:
        while True:
            await self.clock.sleep(self.site.status_interval.total_seconds())
            await self.store([self.publisher.online_status()])

    def _start_metrics(self) -> None:
        if self.options.metrics_address is None:
            return
        host, port = self.options.metrics_address
        registry = registry_for(self.outbox, self.publisher, self.pollers, self.streams, self.clock)
        try:
            self._metrics_server, _thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:  # a busy port must not keep the gateway from collecting data
            logger.warning("metrics endpoint %s:%d unavailable: %s", host, port, exc)
