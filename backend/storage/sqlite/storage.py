"""`SqliteStorage`: the Storage interface on one embedded SQLite file (the default without InfluxDB).

sqlite3 blocks, so each connection lives on a thread of its own and the event loop only awaits: one
writer (setup, write, expire) and one reader (query, tag_values, ping). In WAL mode the reader sees every
committed write and never waits for the writer, so a long dashboard query does not hold up ingest.

Errors (model.py's tree): a locked, full, unreadable or corrupt database file is `StorageUnavailable`
(keep the data, retry later); a point or query InfluxDB would refuse as well is `StorageRejected`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from backend.storage.model import (
    Point,
    Retention,
    Series,
    SeriesQuery,
    StorageRejected,
    StorageUnavailable,
    TagMatch,
)
from backend.storage.sqlite import tables
from backend.storage.sqlite.reader import Reader
from backend.storage.sqlite.writer import Writer

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class SqliteStorage:
    """Safe to share between the tasks of one event loop; one writing process per file."""

    def __init__(self, path: Path, retention: Retention, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self.retention = retention
        self.busy_timeout = busy_timeout
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._writer: Writer | None = None
        self._reader: Reader | None = None
        self._connections: list[tuple[ThreadPoolExecutor, sqlite3.Connection]] = []

    async def setup(self) -> None:
        """Create the file, its directory and tables if missing; open both connections. Idempotent."""
        if self._writer is not None:
            return

        def open_writer() -> Writer:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = tables.connect(self.path, busy_timeout=self.busy_timeout)
            self._connections.append((self._write_thread, db))
            tables.create(db)
            return Writer(db)

        def open_reader() -> Reader:
            db = tables.connect(self.path, busy_timeout=self.busy_timeout)
            self._connections.append((self._read_thread, db))
            return Reader(db)

        try:
            writer = await self._run(self._write_thread, open_writer)
            self._reader = await self._run(self._read_thread, open_reader)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create {self.path}: {exc}") from exc
        self._writer = writer

    async def write(self, points: Sequence[Point]) -> None:
        """Commit every point that can be stored (durably), then raise StorageRejected for the others."""
        if not points:
            return
        writer = self._writer_or_fail()
        refused = await self._run(self._write_thread, lambda: writer.write(points))
        if refused:
            raise StorageRejected(
                f"{len(refused)} of {len(points)} points rejected, first: {refused[0][1]}",
                [point for point, _ in refused],
            )

    async def query(self, query: SeriesQuery) -> list[Series]:
        reader = self._reader_or_fail()
        return await self._run(self._read_thread, lambda: reader.query(query))

    async def tag_values(
        self, measurement: str, tag: str, tags: Mapping[str, TagMatch] | None = None
    ) -> list[str]:
        reader = self._reader_or_fail()
        return await self._run(self._read_thread, lambda: reader.tag_values(measurement, tag, tags))

    async def expire(self, now: datetime) -> None:
        """Delete points older than `retention.raw` (RAW measurements, and unknown ones, as the InfluxDB
        backend files those under its raw policy) or `retention.long` (LONG ones; None keeps them)."""
        writer = self._writer_or_fail()
        await self._run(self._write_thread, lambda: writer.expire(now, self.retention, writer.measurements()))

    async def ping(self) -> None:
        reader = self._reader_or_fail()
        await self._run(self._read_thread, reader.ping)

    async def close(self) -> None:
        """Close both connections (on their own threads) and stop the threads. Idempotent."""
        for executor, db in self._connections:
            await self._run(executor, db.close)
        self._connections.clear()
        self._writer = self._reader = None
        self._write_thread.shutdown(wait=False)
        self._read_thread.shutdown(wait=False)

    async def _run(self, executor: ThreadPoolExecutor, work: Callable[[], _T]) -> _T:
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, work)
        except sqlite3.IntegrityError as exc:
            raise StorageRejected(f"SQLite refused the request: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"SQLite database {self.path}: {exc}") from exc

    def _writer_or_fail(self) -> Writer:
        if self._writer is None:
            raise RuntimeError("SqliteStorage is not set up (call setup()) or already closed")
        return self._writer

    def _reader_or_fail(self) -> Reader:
        if self._reader is None:
            raise RuntimeError("SqliteStorage is not set up (call setup()) or already closed")
        return self._reader
