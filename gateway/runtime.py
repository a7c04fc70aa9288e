"""The gateway process: one TaskGroup with a task per bus, the publisher, periodic status and metrics.

    poll[<bus>]   BusPoller: reads devices on their grid, appends each cycle to the outbox
    records[<id>] RecordStream: every WIM record / weighing becomes a vehicle message in the outbox
    health[<id>]  the stream's device status whenever its link comes up or goes down
    rejects[<id>] samples of the frames the stream refused, as record_reject messages
    publish       Publisher: outbox -> broker, reconnecting for as long as it takes
    status        gateway status (with outbox depth and drops) and every stream's device status (with its
                  reject counts) every status_interval
    metrics       Prometheus endpoint on metrics_address

Cancelling `run()` (SIGTERM, Ctrl-C) flushes what it can within a few seconds and publishes `offline`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from drivers.modbus.bus import ModbusBus
from drivers.serial_records.records import VehicleRecord
from drivers.serial_records.stream import RecordStream
from gateway.clock_sanity import ClockSanity
from gateway.inventory import build_bus, resolve_site
from gateway.metrics import GatewayCollector
from gateway.outbox import Builder, Outbox
from gateway.prometheus import MetricsServer
from gateway.publisher import Identity, Publisher
from gateway.scheduler import BusPoller, ScheduledDevice
from gateway.storing import OutboxWriter
from gateway.stream_reports import RejectReports, RejectSampler, StreamHealth
from pantau.contract import Topics, encode
from pantau.profiles.records.profile import RecordProfile
from pantau.resilience import SYSTEM_CLOCK, Clock
from pantau.site.config import SiteConfig
from pantau.site.resolve import ResolvedModbusBus, ResolvedRecordStream

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
        self.resolved = resolve_site(site, source)
        self.clock = self.options.clock
        self.outbox = Outbox(
            self.options.outbox_path or site.outbox.path,
            max_bytes=site.outbox.max_size,
            max_age=site.outbox.max_age,
            receipt_window=site.mqtt.outbox_receipt_window,
            clock=self.clock.time,
        )
        #: A full disk is an outage of the outbox, not a crash (gateway/storing.py).
        self.writer = OutboxWriter(self.outbox, self.clock)
        self.identity = Identity(site=site.site, gateway=site.gateway, started_at=self.clock.now())
        #: One look-out on the wall clock for everything this gateway stamps (gateway/clock_sanity.py).
        self.clock_sanity = ClockSanity(self.clock)
        self.publisher = Publisher(
            site.mqtt, self.outbox, self.identity, clock=self.clock, clock_sanity=self.clock_sanity
        )
        self._buses: list[ModbusBus] = []
        self.pollers = [self._poller(bus) for bus in self.resolved if isinstance(bus, ResolvedModbusBus)]
        self.rejects: dict[str, RejectReports] = {}
        self.streams = [self._stream(bus) for bus in self.resolved if isinstance(bus, ResolvedRecordStream)]
        self.stream_health = {
            device: StreamHealth(
                stream.counters,
                site=site.site,
                device=device,
                gateway=site.gateway,
                topics=self.topics,
                clock=self.clock,
            )
            for stream, device in self.streams
        }
        self._metrics_server: MetricsServer | None = None

    def _poller(self, resolved: ResolvedModbusBus) -> BusPoller:
        bus, devices = build_bus(resolved, self.clock)
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
        device = resolved.device.config.id
        sampler = RejectSampler(resolved.spec.reject_sample_interval.total_seconds(), self.clock)
        reports = RejectReports(
            sampler, site=self.site.site, device=device, gateway=self.site.gateway, topics=self.topics
        )
        self.rejects[device] = reports
        stream = RecordStream(
            profile,
            resolved.spec.connection,
            name=resolved.spec.id,
            clock=self.clock,
            on_reject=reports.offer,
        )
        return stream, device

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
        """Retained device status for a record stream whenever its link comes up or goes down (the status
        task adds one every status_interval)."""
        health = self.stream_health[device]
        while True:
            await stream.wait_until(health.link_moved)
            if health.changed():
                await self.store([health.builder()])

    async def _forward_rejects(self, device: str) -> None:
        """Samples of refused frames, stored like any other message (they survive an outage too)."""
        reports = self.rejects[device]
        while True:
            await self.store(await reports.take())

    async def store(self, batch: list[Builder]) -> None:
        """Durably queue one cycle's messages, then wake the publisher. A cycle the outbox cannot take
        (disk full) is counted as dropped and the gateway carries on (gateway/storing.py)."""
        if batch and not self.clock_sanity.can_stamp(len(batch)):
            return  # a clock before 2000 dates nothing the contract takes: dropped, counted, logged once
        if batch and (stored := await self.writer.append(batch)) is not None:
            self.publisher.notify(stored)

    async def run(self) -> None:
        await self._start_metrics()
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
                    tasks.create_task(self._forward_rejects(device), name=f"rejects[{stream.name}]")
        finally:
            # The publisher said goodbye itself (flush + `offline`) when the task group cancelled it.
            if self._metrics_server is not None:
                await self._metrics_server.close()
            for bus in self._buses:
                await bus.close()  # serial ports and device-server connections, released for the next run
            self.outbox.close()

    async def _report_status(self) -> None:
        while True:
            await self.clock.sleep(self.site.status_interval.total_seconds())
            streams = [health for health in self.stream_health.values() if health.known]
            for health in streams:
                health.changed()  # a link change not yet reported goes out in this status
            await self.store([self.publisher.online_status(), *(health.builder() for health in streams)])

    async def _start_metrics(self) -> None:
        if self.options.metrics_address is None:
            return
        host, port = self.options.metrics_address
        collector = GatewayCollector(self.outbox, self.publisher, self.pollers, self.streams, self.clock)
        server = MetricsServer(collector.page)
        try:
            await server.start(host, port)
            self._metrics_server = server
        except OSError as exc:  # a busy port must not keep the gateway from collecting data
            logger.warning("metrics endpoint %s:%d unavailable: %s", host, port, exc)
