"""The backend's durable spool (SQLite, WAL): accepted points and dead letters, between MQTT and storage.

The ingest loop commits each batch of messages here — valid ones as points, invalid ones as dead letters —
in one transaction, and only then acknowledges them to the broker. The writer drains the spool into
storage and deletes what storage has confirmed. So a crash or a storage outage at any moment loses
nothing: what the broker saw acknowledged is on disk, and the rest the broker still holds for us.

One spool row is one ingest batch (its points as compact JSON), so a 70,000 points/s stream costs a
few dozen inserts and one fsync per batch, not one per message.

The rows just committed are also kept in memory (a bounded read-through cache), so in the steady state the
writer takes the very point objects ingest produced instead of parsing them back out of SQLite; after a
restart, or behind a backlog larger than the cache, it reads them from disk as before.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson  # the spool's points as JSON: ~7x faster than json.dumps (bench/ingest_throughput.py)

from backend.storage.model import Point
from pantau.resilience import SYSTEM_CLOCK, Clock

#: Points of recently committed rows kept in memory for the writer (a reading point is ~0.5 KiB: ~50 MB).
CACHED_POINTS: Final = 100_000

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS spool (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    created  REAL    NOT NULL,
    count    INTEGER NOT NULL,
    points   TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS deadletter (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL    NOT NULL,
    topic       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    payload     BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS deadletter_reason ON deadletter (reason, id);
CREATE TABLE IF NOT EXISTS late_hour (
    hour        INTEGER PRIMARY KEY,  -- UTC epoch seconds of an hour that stored points the rollups missed
    marked      REAL    NOT NULL,     -- when it was last marked
    generation  INTEGER NOT NULL      -- bumped by every mark, so one made during a recompute is never lost
);
"""


class SpoolError(RuntimeError):
    """The spool database cannot be opened or written (disk full, corrupt file, permissions)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message storage will never accept, kept with why, for a person to look at."""

    topic: str
    reason: str
    detail: str
    payload: bytes
    size: int
    received_at: float
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Points taken from the spool; `through_id` is what to `release` once storage confirmed them."""

    through_id: int
    points: list[Point]


@dataclass(frozen=True, slots=True)
class LateHour:
    """A marked hour (UTC epoch seconds) and the generation of its mark when it was read."""

    hour: int
    generation: int


@dataclass(frozen=True, slots=True)
class SpoolState:
    rows: int
    points: int
    oldest_created: float | None
    deadletters: int


def encode_points(points: Sequence[Point], *, with_lines: bool = False) -> str:
    """Points as compact JSON rows; `with_lines` keeps the line protocol ingest wrote for a point (a fifth
    element), so a point read back from disk, behind a backlog larger than the cache, is not encoded again:
    in a drain of 10-reading messages most points came back from disk, and encoding them anew was the
    writer's largest cost (bench/ingest_throughput.py)."""
    if with_lines:
        rows = [
            [p.measurement, p.tags, p.fields, p.time_ns] if p.line is None else
            [p.measurement, p.tags, p.fields, p.time_ns, p.line]
            for p in points
        ]  # fmt: skip
    else:
        rows = [[p.measurement, p.tags, p.fields, p.time_ns] for p in points]
    try:
        text = orjson.dumps(rows)
    except TypeError:  # what orjson refuses: ints beyond 64 bits, mappings that are not dicts, ...
        text = None
    # orjson writes a non-finite float as null (points never hold null); json keeps NaN/Infinity, so
    # storage refuses such a point with the reason. `null` inside a string only costs the slower path.
    if text is None or b"null" in text:
        return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return text.decode()


def decode_points(text: str | bytes) -> list[Point]:
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN/Infinity, which only json writes and reads
        rows = json.loads(text)
    return [Point(*row) for row in rows]  # four elements, or five with the point's line


class Spool:
    """Thread-safe (one connection behind a lock): the event loop hands its calls to a thread."""

    def __init__(
        self,
        path: Path,
        *,
        max_deadletters: int = 100_000,
        max_payload_bytes: int = 65_536,
        cached_points: int = CACHED_POINTS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.path = path
        self.clock = clock
        self.cached_points = cached_points
        self.max_deadletters = max_deadletters
        self.max_payload_bytes = max_payload_bytes
        self._lock = threading.Lock()
        self._cached: dict[int, list[Point]] = {}  # row id -> its points, rows committed and not released
        self._cached_points = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            # synchronous=FULL: the broker forgets a message once we acknowledge it, so the commit that
            # precedes the acknowledgement must survive a power cut.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def accept(self, points: Sequence[Point], dead: Sequence[DeadLetter] = ()) -> None:
        """Store one ingest batch durably: its points and its dead letters, in one transaction."""
        if not points and not dead:
            return
        # outside the lock: the writer may take meanwhile
        text = encode_points(points, with_lines=True) if points else ""
        with self._lock:
            row_id = None
            with self._transaction():
                if points:
                    row_id = self._insert_row(len(points), text)
                self._insert_dead(dead)
            if row_id is not None and self._cached_points + len(points) <= self.cached_points:
                self._cached[row_id] = list(points)
                self._cached_points += len(points)

    def readmit(self, entry_ids: Sequence[int], points: Sequence[Point]) -> None:
        """Spool `points` and delete the dead letters they came from, in one transaction
        (backend/ingest/readmit.py): a crash leaves either the dead letters or the points, never both or
        neither."""
        text = encode_points(points) if points else ""
        with self._lock, self._transaction():
            if points:
                self._insert_row(len(points), text)
            self._db.executemany("DELETE FROM deadletter WHERE id = ?", [(i,) for i in entry_ids])

    def _insert_row(self, count: int, points_text: str) -> int | None:
        cursor = self._db.execute(
            "INSERT INTO spool (created, count, points) VALUES (?, ?, ?)",
            (self.clock.time(), count, points_text),
        )
        return cursor.lastrowid

    def add_deadletters(self, dead: Sequence[DeadLetter]) -> None:
        """Dead-letter points storage rejected (the writer's path)."""
        with self._lock, self._transaction():
            self._insert_dead(dead)

    def take(self, max_points: int, after_id: int = 0) -> SpoolBatch | None:
        """The oldest rows after `after_id`, whole, up to about `max_points` points (at least one row)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, count FROM spool WHERE id > ? ORDER BY id", (after_id,)
            ).fetchall()
            chosen: list[int] = []
            total = 0
            for row_id, count in rows:
                if chosen and total + count > max_points:
                    break
                chosen.append(row_id)
                total += count
            points: list[Point] = []
            for row_id in chosen:
                cached = self._cached.get(row_id)
                if cached is None:
                    (text,) = self._db.execute("SELECT points FROM spool WHERE id = ?", (row_id,)).fetchone()
                    cached = decode_points(text)
                points.extend(cached)
        return SpoolBatch(chosen[-1], points) if chosen else None

    def release(self, through_id: int, late_hours: Collection[int] = ()) -> None:
        """Forget every row up to `through_id`: storage has them. `late_hours` (UTC epoch seconds) held
        points that arrived after the rollup window had passed them: marked in the same transaction, so
        a crash can lose neither the rows nor the marks (`backend/storage/rollup.py`)."""
        with self._lock:
            with self._transaction():
                self._db.execute("DELETE FROM spool WHERE id <= ?", (through_id,))
                self._mark_late(late_hours)
            for row_id in [row_id for row_id in self._cached if row_id <= through_id]:
                self._cached_points -= len(self._cached.pop(row_id))

    def mark_late_hours(self, hours: Collection[int]) -> None:
        """Mark hours for the rollup to recompute (a regular pass over them failed)."""
        with self._lock, self._transaction():
            self._mark_late(hours)

    def late_hours(self, limit: int, marked_before: float) -> list[LateHour]:
        """The oldest marked hours last marked before `marked_before` (settled: nothing stored since)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT hour, generation FROM late_hour WHERE marked < ? ORDER BY hour LIMIT ?",
                (marked_before, limit),
            ).fetchall()
        return [LateHour(hour, generation) for hour, generation in rows]

    def forget_late_hours(self, marks: Collection[LateHour]) -> None:
        """The rollup has recomputed these hours; one marked again since (a newer generation) stays."""
        with self._lock, self._transaction():
            self._db.executemany(
                "DELETE FROM late_hour WHERE hour = ? AND generation = ?",
                [(mark.hour, mark.generation) for mark in marks],
            )

    def _mark_late(self, hours: Collection[int]) -> None:
        self._db.executemany(
            "INSERT INTO late_hour (hour, marked, generation) VALUES (?, ?, 0)"
            " ON CONFLICT (hour) DO UPDATE SET marked = excluded.marked, generation = generation + 1",
            [(hour, self.clock.time()) for hour in hours],
        )

    def state(self) -> SpoolState:
        with self._lock:
            rows, points, oldest = self._db.execute(
                "SELECT count(*), coalesce(sum(count), 0), min(created) FROM spool"
            ).fetchone()
            (dead,) = self._db.execute("SELECT count(*) FROM deadletter").fetchone()
        return SpoolState(rows, points, oldest, dead)

    def deadletters(
        self, *, limit: int = 50, reason: str | None = None, before_id: int | None = None
    ) -> list[DeadLetter]:
        """Newest first; `before_id` pages back."""
        query = "SELECT id, received_at, topic, reason, detail, size, payload FROM deadletter WHERE 1=1"
        args: list[object] = []
        if reason is not None:
            query += " AND reason = ?"
            args.append(reason)
        if before_id is not None:
            query += " AND id < ?"
            args.append(before_id)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [
            DeadLetter(topic, reason_, detail, bytes(payload), size, received_at, row_id)
            for row_id, received_at, topic, reason_, detail, size, payload in rows
        ]

    def deadletter(self, entry_id: int) -> DeadLetter | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, received_at, topic, reason, detail, size, payload FROM deadletter WHERE id = ?",
                (entry_id,),
            ).fetchone()
        if row is None:
            return None
        row_id, received_at, topic, reason, detail, size, payload = row
        return DeadLetter(topic, reason, detail, bytes(payload), size, received_at, row_id)

    def deadletter_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT reason, count(*) FROM deadletter GROUP BY reason ORDER BY reason")
            return dict(rows.fetchall())

    def _insert_dead(self, dead: Sequence[DeadLetter]) -> None:
        if not dead:
            return
        self._db.executemany(
            "INSERT INTO deadletter (received_at, topic, reason, detail, size, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (d.received_at, d.topic, d.reason, d.detail, d.size, d.payload[: self.max_payload_bytes])
                for d in dead
            ],
        )
        # Bounded: a producer stuck sending garbage must not fill the disk. Keep the newest.
        (last_id,) = self._db.execute("SELECT max(id) FROM deadletter").fetchone()
        self._db.execute("DELETE FROM deadletter WHERE id <= ?", (last_id - self.max_deadletters,))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SpoolError(f"spool {self.path}: {exc}") from exc
