"""One backend worker process: subscribe, spool, store, expire, report metrics; optionally evaluate rules
and serve the HTTP API.

Tasks in one TaskGroup: `ingest` (MQTT -> spool), `write` (spool -> storage), `expire` (retention where
storage does not enforce it), `rollup`, `rules` (when `rules:` is configured: on exactly one worker),
`api` (when `api:` is configured). Several workers may run side by side on a shared subscription, each with
its own spool; nothing but the rules service assumes it is the only one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from backend.api.app import create_app
from backend.api.server import ApiServer
from backend.api.vehicle_stats import rebuild_vehicle_rollup, roll_up_vehicles
from backend.config import BackendConfig
from backend.ingest.pipeline import IngestPipeline
from backend.ingest.senders import SenderCheck
from backend.ingest.spool import LateHour, Spool
from backend.ingest.subscriber import Subscriber, Subscription
from backend.ingest.writer import SpoolWriter
from backend.inventory import SiteInventory
from backend.metrics import BackendCollector, registry_for
from backend.rules_service.live import RulesService
from backend.storage.factory import open_storage
from backend.storage.influx import InfluxStorage
from backend.storage.model import FieldValue, Storage, StorageError, StorageRejected, StorageUnavailable
from backend.storage.rollup import ROLLUPS, floor_time, hours_between, roll_up
from backend.storage.schema import READING_1H, READING_1M, backend_status_point
from pantau.contract import Topics
from pantau.memory import release_free_memory
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

logger = logging.getLogger(__name__)

EXPIRE_EVERY_S: Final = 3600.0
#: How often a worker stores its heartbeat (`backend_status`); Grafana's no-data rule waits a few of these.
HEARTBEAT_EVERY_S: Final = 60.0
#: A clean stop writes what is spooled if storage takes it this quickly; otherwise it stays spooled.
DRAIN_ON_STOP_S: Final = 10.0
#: Late hours recomputed per rollup pass (each reads an hour of raw readings and vehicles).
LATE_HOURS_PER_PASS: Final = 24
HOUR: Final = timedelta(hours=1)


class BackendWorker:
    def __init__(
        self, config: BackendConfig, storage: Storage | None = None, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self.clock = clock
        self._owns_storage = storage is None  # a storage handed in is closed by whoever opened it
        self.storage = storage or open_storage(config.storage)
        self.spool = Spool(
            config.spool_path,
            clock=clock,
            max_deadletters=config.deadletter.max_entries,
            max_payload_bytes=config.deadletter.max_payload_bytes,
        )
        self.writer = SpoolWriter(
            self.spool, self.storage, config.writer, late_after=config.rollups.late_after, clock=clock
        )
        self.inventory = SiteInventory.load(config.sites) if config.sites else SiteInventory([])
        self.pipeline = IngestPipeline(
            self.spool,
            Topics(config.mqtt.topic_prefix),
            self.writer.notify,
            clock_skew=config.clock_skew,
            senders=SenderCheck.for_backend(config, self.inventory),
            write_lines=isinstance(self.storage, InfluxStorage),
            receipts_from=config.worker_id if config.mqtt.receipts else None,
            clock=clock,
        )
        if self.pipeline.senders is None:
            logger.warning(
                "messages for any site and gateway are stored: %s",
                "inventory_check is off" if config.sites else "no site inventory (`sites` unset)",
            )
        self.subscriber = Subscriber(Subscription.ingest(config), self.pipeline, clock=clock)
        self.rules = RulesService(config, self.storage, self.inventory, clock=clock) if config.rules else None
        self.api = self._api_server()
        self.storage_ready = asyncio.Event()
        self._metrics_server: WSGIServer | None = None

    def _api_server(self) -> ApiServer | None:
        settings = self.config.api
        if settings is None:
            return None
        app = create_app(
            settings,
            self.storage,
            self.inventory,
            self.rules,
            readiness_checks={"broker": self._broker_ready},
            instance=self.config.worker_id,
            clock_skew=self.config.clock_skew,
            timer=self.clock,  # the API's rate limiters run on the worker's clock
        )
        return ApiServer(app, settings.host, settings.port)

    async def _broker_ready(self) -> None:
        if not self.subscriber.stats.connected:
            raise ConnectionError("not subscribed to the broker")

    async def run(self) -> None:
        self._start_metrics()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.subscriber.run(), name="ingest")
                tasks.create_task(self.writer.run(), name="write")
                tasks.create_task(self._expire(), name="expire")
                tasks.create_task(self._set_up_storage(), name="storage-setup")
                tasks.create_task(self._once_storage_ready(self._heartbeat), name="heartbeat")
                if self.config.rollups.enabled:
                    tasks.create_task(self._roll_up(), name="rollup")
                if self.rules is not None:
                    tasks.create_task(self._once_storage_ready(self.rules.run), name="rules")
                if self.api is not None:
                    tasks.create_task(self._once_storage_ready(self.api.run), name="api")
        finally:
            await self._stop()

    async def _stop(self) -> None:
        try:
            async with asyncio.timeout(DRAIN_ON_STOP_S):
                await self.writer.drain()
        except TimeoutError:
            logger.warning("storage slow at shutdown: %d points stay spooled", self.spool.state().points)
        finally:
            if self._metrics_server is not None:
                self._metrics_server.shutdown()
                self._metrics_server.server_close()
            if self._owns_storage:
                await self.storage.close()
            self.spool.close()

    async def _expire(self) -> None:
        while True:
            await self.clock.sleep(EXPIRE_EVERY_S)
            try:
                await self.storage.expire(self.clock.now())
            except StorageError as exc:
                logger.warning("retention pass failed, retrying in an hour: %s", exc)

    async def _set_up_storage(self) -> None:
        """Create the database/tables once storage answers; ingest does not wait (it spools), while the
        rules' effects, the heartbeat and the API start only then. A refusal (bad credentials) stops the
        worker with the reason."""
        backoff = Backoff(base=0.5, cap=self.config.writer.retry_cap.total_seconds())
        outage = Outage("storage at start", logger, self.clock)
        while True:
            try:
                await self.storage.setup()
                break
            except StorageUnavailable as exc:
                outage.failed(str(exc))
                await self.clock.sleep(backoff.next_delay())
        outage.recovered()
        self.storage_ready.set()

    async def _once_storage_ready(self, run: Callable[[], Awaitable[None]]) -> None:
        await self.storage_ready.wait()
        await run()

    async def _heartbeat(self) -> None:
        """Store that this worker is alive, straight to storage (not through the spool): a heartbeat that
        cannot be stored now means nothing later, and its absence is exactly what Grafana alerts on."""
        while True:
            spool = await asyncio.to_thread(self.spool.state)
            fields: dict[str, FieldValue] = {
                "received_total": self.subscriber.stats.received_total,
                "subscribed": 1 if self.subscriber.stats.connected else 0,
                "spool_points": spool.points,
                "deadletters": spool.deadletters,
            }
            if self.rules is not None:
                fields["active_alerts"] = len(self.rules.active())
            try:
                now = self.clock.now()
                await self.storage.write([backend_status_point(self.config.worker_id, now, fields)])
            except StorageError as exc:
                logger.debug("heartbeat not stored: %s", exc)  # the writer already reports the outage
            # Once a minute, as cheap as it is (about a millisecond): freed memory back to the OS. Without it
            # fragmentation kept a demo's RSS creeping up by megabytes an hour (pantau/memory.py).
            release_free_memory()
            await self.clock.sleep(HEARTBEAT_EVERY_S)

    async def _roll_up(self) -> None:
        """Each rollup recomputes its lookback once a bucket of its own has ended: the 1-minute rollup every
        minute, the hourly ones once an hour. (Re-reading three hours of raw readings every minute, for
        hourly buckets that had not changed, cost CPU and transient memory in proportion to the data.)
        A pass that fails marks the hours of its window, so storage coming back after the window has moved
        on still gets them recomputed."""
        rollups = self.config.rollups
        lookback = {READING_1M: rollups.lookback_1m, READING_1H: rollups.lookback_1h}
        rolled_through: dict[str, datetime] = {}
        while True:
            await self.clock.sleep(rollups.every.total_seconds())
            now = self.clock.now()
            for measurement, window in lookback.items():
                through = floor_time(now, ROLLUPS[measurement])
                if rolled_through.get(measurement) == through:
                    continue
                try:
                    await roll_up(self.storage, measurement, now - window, now)
                    rolled_through[measurement] = through
                except StorageError as exc:
                    logger.warning("%s rollup failed, retrying next pass: %s", measurement, exc)
                    if isinstance(exc, StorageUnavailable):  # an outage may outlast the window
                        await asyncio.to_thread(self.spool.mark_late_hours, hours_between(now - window, now))
            try:
                await roll_up_vehicles(self.storage, now, rollups.lookback_vehicles)
            except StorageError as exc:
                logger.warning("vehicle rollup failed, retrying next pass: %s", exc)
                if isinstance(exc, StorageUnavailable):
                    window_start = now - rollups.lookback_vehicles
                    await asyncio.to_thread(self.spool.mark_late_hours, hours_between(window_start, now))
            await self._roll_up_late_hours(now)

    async def _roll_up_late_hours(self, now: datetime) -> None:
        """Recompute the ended hours marked late (backend/storage/rollup.py) once nothing has been stored in
        them for `rollups.late_settle`: a backlog still replaying into an hour is recomputed once, after
        it, and the rules service's verdicts on its trucks (written beside ingest's points) are in by then.
        A bounded number per pass, oldest first, so a week of backlog catches up over a few minutes."""
        settled = self.clock.time() - self.config.rollups.late_settle.total_seconds()
        marked = await asyncio.to_thread(self.spool.late_hours, LATE_HOURS_PER_PASS, settled)
        done: list[LateHour] = []
        for mark in marked:
            start = datetime.fromtimestamp(mark.hour, UTC)
            if start + HOUR > now:
                break  # not ended yet: its hourly buckets would be partial (later passes take it)
            try:
                for measurement in ROLLUPS:
                    await roll_up(self.storage, measurement, start, start + HOUR)
                await rebuild_vehicle_rollup(self.storage, start, start + HOUR)
            except StorageRejected as exc:  # will never succeed: say so and let the hours after it go on
                logger.error("late-data rollup of %s refused by storage, given up: %s", start, exc)  # noqa: TRY400
            except StorageError as exc:
                logger.warning("late-data rollup of %s failed, retrying next pass: %s", start, exc)
                break
            done.append(mark)
        if done:
            await asyncio.to_thread(self.spool.forget_late_hours, done)
            logger.info("rolled up %d hour(s) of data that arrived after the rollup window", len(done))

    def _start_metrics(self) -> None:
        if self.config.metrics_port is None:
            return
        collector = BackendCollector(
            self.subscriber, self.pipeline.stats, self.writer, self.spool, self.clock
        )
        try:
            self._metrics_server, _thread = start_http_server(
                self.config.metrics_port, addr="127.0.0.1", registry=registry_for(collector)
            )
        except OSError as exc:  # a busy port must not stop ingest
            logger.warning("metrics endpoint on port %d unavailable: %s", self.config.metrics_port, exc)
