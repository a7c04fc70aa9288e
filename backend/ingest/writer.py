"""Drains the spool into storage: big batches, retried while storage is down, deleted once stored.

Batching by size and time: a write waits until `batch_points` points are spooled or the oldest has waited
`flush_interval`. While storage is unavailable the same rows are retried with capped, jittered back-off;
the spool keeps growing on disk and the broker keeps being acknowledged, so the outage costs nothing but
latency. Points storage refuses outright (a field type conflict) are dead-lettered, never retried forever.

Once a write has failed, each retry first asks storage whether it is back (`ping`: one request) and sends
the batch only when it is; before storage was ever set up, the retry sets it up instead (a query or two).
Sending the batch itself rebuilt its request bodies on every retry, and the storage client retries each
write for `retry_for` (a request every 2.5 s on average): tests/scenarios/test_storage_outage.py's day
without InfluxDB cost 32,600 requests and 3,470 rebuilt batches; one ping per back-off (at most
`retry_cap` apart) is 5,750 requests and nothing rebuilt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from backend.config import WriterConfig
from backend.ingest.spool import DeadLetter, Spool, SpoolBatch, encode_points
from backend.storage.model import Point, Storage, StorageRejected, StorageUnavailable
from backend.storage.rollup import late_hours
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

logger = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 0.2
#: With nothing spooled, how often (real seconds) the writer looks at the spool without being woken.
IDLE_LOOK_S: Final = 5.0
STORAGE_REJECTED: Final = "storage_rejected"


@dataclass(slots=True)
class WriterStats:
    points_written_total: int = 0
    writes_total: int = 0
    write_failures_total: int = 0
    points_rejected_total: int = 0
    last_write_seconds: float = 0.0
    storage_up: bool = True
    down_since: float | None = field(default=None)


class SpoolWriter:
    def __init__(
        self,
        spool: Spool,
        storage: Storage,
        config: WriterConfig,
        *,
        late_after: timedelta | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.spool = spool
        #: Points older than this when stored have their hour marked for the rollup (None: no rollups).
        self.late_after = late_after
        self.clock = clock
        self._backoff = Backoff(base=BACKOFF_BASE_S, cap=config.retry_cap.total_seconds())
        self._outage = Outage("storage", logger, clock)
        self.storage = storage
        self.config = config
        self.stats = WriterStats()
        self._wake = asyncio.Event()
        self._set_up = False

    def notify(self) -> None:
        """Called by ingest after each spooled batch."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            # Cleared before the spool is read, not after: a batch spooled (and notified) while the read ran
            # in its thread would otherwise wait for the next one, however long the stream stays quiet.
            self._wake.clear()
            batch = await asyncio.to_thread(self.spool.take, self.config.batch_points)
            if batch is None:
                # Woken by ingest; and it looks again now and then by itself, for rows another process
                # spooled (`pantau backend deadletter readmit`), which cannot wake this one. Real time, as
                # a look-out: in virtual time it must not add a sleeper.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_LOOK_S):
                        await self._wake.wait()
                continue
            if len(batch.points) < self.config.batch_points:
                await self._linger()
                batch = await asyncio.to_thread(self.spool.take, self.config.batch_points) or batch
            await self._store_and_release(batch)

    async def drain(self) -> None:
        """Write everything spooled now (clean shutdown; the caller bounds it with a timeout)."""
        while (batch := await asyncio.to_thread(self.spool.take, self.config.batch_points)) is not None:
            await self._store_and_release(batch)

    async def _store_and_release(self, batch: SpoolBatch) -> None:
        await self._store(batch)
        late: set[int] = set()
        if self.late_after is not None:
            older_than = self.clock.time() - self.late_after.total_seconds()
            late = late_hours(batch.points, int(older_than * 1e9))
        await asyncio.to_thread(self.spool.release, batch.through_id, late)

    async def _linger(self) -> None:
        """Give a small batch `flush_interval` to grow, unless enough arrives sooner."""
        deadline = self.clock.monotonic() + self.config.flush_interval.total_seconds()
        while (remaining := deadline - self.clock.monotonic()) > 0:
            state = await asyncio.to_thread(self.spool.state)
            if state.points >= self.config.batch_points:
                return
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return

    async def _store(self, batch: SpoolBatch) -> None:
        while True:
            started = self.clock.monotonic()
            try:
                if self._set_up and not self.stats.storage_up:  # back? (see the module docstring)
                    await self.storage.ping()
                if not self._set_up:  # storage may be down at start: set it up on the first write
                    await self.storage.setup()
                    self._set_up = True
                await self.storage.write(batch.points)
            except StorageUnavailable as exc:
                self._down(exc)
                await self.clock.sleep(self._backoff.next_delay())
                continue
            except StorageRejected as exc:
                # Without a list of refused points the whole batch was refused: keep all of it, with why.
                await self._reject(exc.rejected or batch.points, str(exc))
            self._up()
            self.stats.writes_total += 1
            self.stats.points_written_total += len(batch.points)
            self.stats.last_write_seconds = self.clock.monotonic() - started
            return

    async def _reject(self, points: list[Point], why: str) -> None:
        self.stats.points_rejected_total += len(points)
        logger.error("storage refused %d point(s): %s", len(points), why)
        now = self.clock.time()
        dead = []
        for point in points:
            payload = encode_points([point]).encode()
            dead.append(
                DeadLetter(
                    f"storage/{point.measurement}", STORAGE_REJECTED, why[:1000], payload, len(payload), now
                )
            )
        await asyncio.to_thread(self.spool.add_deadletters, dead)

    def _down(self, exc: Exception) -> None:
        self.stats.write_failures_total += 1
        self._outage.failed(f"{exc} (points stay in the spool)")
        self.stats.storage_up = False
        self.stats.down_since = self._outage.since

    def _up(self) -> None:
        self._outage.recovered()
        self._backoff.reset()
        self.stats.storage_up = True
        self.stats.down_since = None
