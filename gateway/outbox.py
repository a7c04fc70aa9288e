"""The gateway's durable store-and-forward queue (SQLite in WAL mode).

Every message is committed here, with its sequence number, before anyone tries to publish it, and is deleted
only after the backend's receipt says it stored it (gateway.receipts; or, with receipts off, after the broker
acknowledged it: PUBACK). A crash at any moment therefore loses nothing that was read: the next start replays
what is left, oldest first. Sequence numbers come from the same transaction that stores the message, so they
survive restarts and never repeat.

The queue is bounded by a byte quota and a maximum age; when either is exceeded the oldest messages go first,
and every drop is counted (persisted, reported in gateway status) — never silent. Messages the broker has and
that still wait for their receipt go before any the broker has not seen (counted apart: unreceipted).

A message the broker refuses is parked, and after `limit` refusals moved with its sequence number to the
dead letters, in one transaction (the tables and SQL: gateway.dead_letters). Dead letters count against the
same quota and age (they go first), so a topic refused for months cannot fill the disk. Every sequence
number is therefore always in exactly one place: delivered, queued, dead-lettered, or counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final, ParamSpec, TypeVar

from gateway import dead_letters, receipts
from gateway.acks import Ack, AckQueue
from gateway.acks import write as write_ack
from gateway.dead_letters import Refusal
from gateway.receipts import Confirmed

#: Message builder: given the sequence number allotted to it, returns (topic, payload, retain).
Builder = Callable[[int], tuple[str, bytes, bool]]
P = ParamSpec("P")
T = TypeVar("T")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    seq     INTEGER PRIMARY KEY,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    retain  INTEGER NOT NULL,
    created REAL    NOT NULL,
    will    INTEGER NOT NULL DEFAULT 0
);
-- Every append drops what is older than max_age: without this index that was a scan of the whole queue,
-- whose cost grew with the backlog an outage builds (38 ms a poll cycle at 100,000 queued messages).
CREATE INDEX IF NOT EXISTS messages_created ON messages (created);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters VALUES ('next_seq', 0), ('dropped_total', 0), ('bytes', 0);
INSERT OR IGNORE INTO counters VALUES ('unstored_total', 0);
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
);
"""
# retained: per topic, the newest message the broker acknowledged as retained. Kept across restarts because
# a backlog can hold an older retained message (a device status) than one a previous run already sent live.
# messages.will: 0 an ordinary message; _WILL a Last Will prepared for a connection attempt; _ARMED a Last
# Will whose connection succeeded, so the broker (not we) delivers it if that connection dies.
_ORDINARY: Final = 0
CACHE_KIB: Final = 512
_WILL: Final = 1
_ARMED: Final = 2


class OutboxError(RuntimeError):
    """The outbox database cannot be opened or written (disk full, corrupt file, permissions)."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    seq: int
    topic: str
    payload: bytes
    retain: bool
    created: float


@dataclass(frozen=True, slots=True)
class OutboxState:
    depth: int
    bytes: int
    oldest_created: float | None
    dropped_total: int
    next_seq: int
    dead_letters: int = 0
    dead_lettered_total: int = 0
    #: Of dropped_total: messages the database refused to store (disk full), see Outbox.count_unstored.
    unstored_total: int = 0
    #: Messages the broker acknowledged, waiting for the backend's receipt (not in `depth`).
    awaiting_receipt: int = 0
    #: Such messages let go without a receipt (window, quota, resends), since install.
    unreceipted_total: int = 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message: OutboxMessage
    reason_code: int
    reason: str
    attempts: int
    first_at: float
    last_at: float


class Outbox:
    """Thread-safe (one connection behind a lock) so the event loop can hand work to a thread."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age: timedelta = timedelta(days=14),
        receipt_window: timedelta | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`receipt_window`: keep messages after their PUBACK until a receipt confirms them, at most this
        long (None: a PUBACK ends a message)."""
        self.path = path
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.receipt_window = receipt_window
        self._clock = clock
        self._lock = threading.Lock()
        #: Messages that could not be stored and are not yet in the persisted counters (count_unstored).
        self._unstored = 0
        self._unstored_lock = threading.Lock()  # not self._lock: counting must not wait for an fsync
        #: Acknowledgements taken by `ack_later`, written by the next transaction (or `flush_acks`).
        self._acks = AckQueue()
        #: The one thread the event loop hands outbox work to (`in_thread`). One, not asyncio's pool: the
        #: work is serialised by the lock anyway, and each extra thread costs a malloc arena and wake-ups.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            # WAL: readers never block the writer. synchronous=FULL: a commit survives a power cut, which a
            # field box on a solar battery will see; commits are batched per poll cycle, so it stays cheap.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # 512 KiB of page cache, not SQLite's 2 MiB: appends touch the tail and publishing the head, and
            # the OS caches the file anyway; on a small field box that is RAM better left free.
            self._db.execute(f"PRAGMA cache_size={-CACHE_KIB}")
            self._db.executescript(_SCHEMA + dead_letters.SCHEMA)
            receipts.add_columns(self._db)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        with self._lock:
            self._settle(strict=False)  # a full disk: they are sent again after the restart
            self._db.close()

    async def in_thread(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` (an outbox method) on the outbox's own thread, so a commit's fsync never
        blocks the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: call(*args, **kwargs))

    def append(self, builders: Sequence[Builder], *, will: bool = False) -> list[OutboxMessage]:
        """Allot sequence numbers and store the built messages, all in one durable transaction."""
        if not builders:
            return []
        now = self._clock()
        with self._lock:
            with self._unstored_lock:
                unstored = self._unstored
            acks = self._acks.waiting()
            with self._transaction():
                self._write_acks(acks)  # one commit, one fsync, for the cycle and the PUBACKs before it
                messages = self._insert(builders, now, will=will, unstored=unstored)
            self._acks.written(acks)
            with self._unstored_lock:
                self._unstored -= unstored  # persisted now
        return messages

    def count_unstored(self, count: int) -> None:
        """Count `count` messages the caller could not store (append raised OutboxError: disk full) as
        dropped. Held in memory while the database refuses writes, persisted with the next append that
        succeeds; `state()` includes them at once."""
        with self._unstored_lock:
            self._unstored += count

    def _insert(
        self, builders: Sequence[Builder], now: float, *, will: bool, unstored: int
    ) -> list[OutboxMessage]:
        """append's transaction: the messages, their numbers and bytes, and the drops counted meanwhile."""
        first = self._counter("next_seq")
        messages = []
        for offset, build in enumerate(builders):
            topic, payload, retain = build(first + offset)
            messages.append(OutboxMessage(first + offset, topic, payload, retain, now))
        self._db.executemany(
            "INSERT INTO messages (seq, topic, payload, retain, created, will) VALUES (?, ?, ?, ?, ?, ?)",
            [(m.seq, m.topic, m.payload, int(m.retain), m.created, _WILL if will else 0) for m in messages],
        )
        self._add("next_seq", len(messages))
        self._add("bytes", sum(len(m.payload) + len(m.topic) for m in messages))
        self._add("dropped_total", unstored)
        self._add("unstored_total", unstored)
        self._enforce_limits(now)
        return messages

    def pending(self, limit: int = 500, after_seq: int = -1) -> list[OutboxMessage]:
        """Unacknowledged messages, oldest first (the will of the current connection and parked messages
        excluded)."""
        with self._locked():
            rows = self._db.execute(  # parked messages (refusals: gateway.dead_letters) are not the queue's
                "SELECT seq, topic, payload, retain, created FROM messages WHERE seq > ? AND will = 0"
                " AND delivered IS NULL AND seq NOT IN (SELECT seq FROM refusals) ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [_message(*row) for row in rows]

    def wills(self, *, armed: bool) -> list[OutboxMessage]:
        """Last Wills not yet resolved: `armed` ones were handed to the broker by a connection that succeeded
        (so the broker publishes them if that connection dies); unarmed ones never reached a broker."""
        with self._locked():
            rows = self._db.execute(
                "SELECT seq, topic, payload, retain, created FROM messages WHERE will = ? ORDER BY seq",
                (_ARMED if armed else _WILL,),
            ).fetchall()
        return [_message(*row) for row in rows]

    def arm(self, seq: int) -> None:
        """The connection carrying will `seq` is up: from now on the broker owns its delivery."""
        with self._locked(), self._transaction():
            self._db.execute("UPDATE messages SET will = ? WHERE seq = ? AND will = ?", (_ARMED, seq, _WILL))

    def release(self, seqs: Iterable[int]) -> None:
        """Turn wills back into ordinary, non-retained messages to publish ourselves.

        A broker publishes a will only if it is running when the connection dies; when the broker itself
        went down, the will of that connection is never delivered. We cannot tell which happened, so we send
        it ourselves: a duplicate at worst (at-least-once), never a gap. Not retained, so a late copy can
        never overwrite the `online` status that follows it.
        """
        keys = [(_ORDINARY, seq) for seq in seqs]
        with self._locked(), self._transaction():
            self._db.executemany("UPDATE messages SET will = ?, retain = 0 WHERE seq = ?", keys)

    def ack(self, seqs: Iterable[int], retained: Iterable[tuple[str, int]] = ()) -> None:
        """The broker has these messages (PUBACK, or a will it published): forget them, or with receipts on,
        keep them until their receipt. `retained`: the (topic, seq) among them that went out retained, so the
        broker now holds them.

        Committed without an fsync of its own: a power cut can undo an acknowledgement (the message then
        goes out once more: at least once, never lost), never a stored message. The next append's fsync, or
        a checkpoint, makes it durable too; a killed process loses nothing (the write is in the OS)."""
        self.ack_later(seqs, retained)
        self.flush_acks()

    def ack_later(self, seqs: Iterable[int], retained: Iterable[tuple[str, int]] = ()) -> None:
        """`ack`, written with the outbox's next transaction instead of one of its own: no I/O here, so the
        event loop calls it directly. The publisher acknowledges every poll cycle; written with the next
        cycle's append, that is one commit and one thread hand-off a cycle instead of two. Every method reads
        the outbox as if they were written; a killed process or a power cut forgets them, and the messages go
        out once more (at least once, never lost). `flush_acks` writes them when nothing else comes."""
        keys = list(seqs)
        if keys:
            self._acks.put(Ack(keys, list(retained), self._clock()))

    def flush_acks(self) -> None:
        """Write the queued acknowledgements now (unsynced, as `ack`)."""
        with self._lock:
            self._settle()

    def _settle(self, *, strict: bool = True) -> None:
        """Write the queued acknowledgements in a transaction of their own (the caller holds the lock).
        `strict=False` for reads: a refused write (a full disk) leaves them queued and the read goes on."""
        acks = self._acks.waiting()
        if not acks:
            return
        try:
            with self._unsynced(), self._transaction():
                self._write_acks(acks)
        except OutboxError:
            if strict:
                raise
            return
        self._acks.written(acks)

    def _write_acks(self, acks: list[Ack]) -> None:
        for ack in acks:
            freed = write_ack(self._db, ack, awaiting_receipts=self.receipt_window is not None)
            if freed:
                self._add("bytes", -freed)

    def confirm(self, ranges: Iterable[tuple[int, int]], *, grace_s: float, resends: int) -> Confirmed:
        """A receipt: the backend stored the messages in `ranges` (first, last inclusive). Deletes them, and
        parks for sending again those it shows were skipped (gateway.receipts). Unsynced like `ack`: a power
        cut can undo it, and a message then waits again or goes out once more."""
        with self._locked(), self._unsynced(), self._transaction():
            done = receipts.confirm(self._db, ranges, grace_s=grace_s, resends=resends)
            self._add("bytes", -done.freed_bytes)
        return done

    def retained_seqs(self) -> dict[str, int]:
        """Topic -> the newest sequence number the broker acknowledged as retained on it."""
        with self._locked():
            return dict(self._db.execute("SELECT topic, seq FROM retained").fetchall())

    def state(self) -> OutboxState:
        with self._locked():  # append persists and forgets the unstored count under this lock: never both
            with self._unstored_lock:
                unstored = self._unstored
            depth, oldest = self._db.execute(
                "SELECT count(*), min(created) FROM messages WHERE will = 0 AND delivered IS NULL"
            ).fetchone()
            (awaiting,) = self._db.execute(
                "SELECT count(*) FROM messages WHERE delivered IS NOT NULL"
            ).fetchone()
            return OutboxState(
                depth,
                self._counter("bytes"),
                oldest,
                self._counter("dropped_total") + unstored,
                self._counter("next_seq"),
                self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0],
                self._counter("dead_lettered_total"),
                self._counter("unstored_total") + unstored,
                awaiting,
                self._counter("unreceipted_total"),
            )

    # Refused messages ------------------------------------------------------------------------------------

    def refuse(self, refusals: Sequence[Refusal], *, limit: int) -> list[int]:
        """Count one refusal of each message (parking it); those refused `limit` times move to the dead
        letters with their sequence numbers, in this same transaction. Returns the seqs moved."""
        now = self._clock()
        with self._locked(), self._transaction():
            moved = dead_letters.refuse(self._db, refusals, now=now, limit=limit)
            self._add("dead_lettered_total", len(moved))
        return moved

    def parked(self, limit: int = 500) -> list[tuple[OutboxMessage, int]]:
        """Parked messages (refused, or re-queued dead letters) with their refusals so far, oldest first."""
        with self._locked():
            rows = dead_letters.parked(self._db, limit)
        return [(_message(*row[:5]), attempts) for *row, attempts in rows]

    def dead_letters(self) -> list[DeadLetter]:
        with self._locked():
            rows = dead_letters.held(self._db)
        return [DeadLetter(_message(*row[:5]), *row[5:]) for row in rows]

    def requeue(self, seqs: Iterable[int] | None = None) -> list[int]:
        """Put dead letters (all when `seqs` is None) back in the queue with their sequence numbers, parked
        with no refusals so the running publisher's retry path sends them first. Returns the seqs moved."""
        with self._locked(), self._transaction():
            return dead_letters.requeue(self._db, seqs)

    def drop(self, seqs: Iterable[int] | None = None) -> list[int]:
        """Delete dead letters (all when `seqs` is None), counted in `dropped_total`. Returns the seqs."""
        with self._locked(), self._transaction():
            dropped, freed = dead_letters.drop(self._db, seqs)
            self._add("bytes", -freed)
            self._add("dropped_total", len(dropped))
        return dropped

    # Internals (called with the lock held) --------------------------------------------------------------

    def _enforce_limits(self, now: float) -> None:
        cutoff = now - self.max_age.total_seconds()
        let_go = self._let_go_awaiting(now, cutoff)
        dropped = self._db.execute("DELETE FROM dead_letters WHERE created < ?", (cutoff,)).rowcount
        dropped += self._db.execute("DELETE FROM messages WHERE will = 0 AND created < ?", (cutoff,)).rowcount
        if dropped or let_go:
            self._recount_bytes()  # before the quota check, or it would drop messages that now fit
        # Messages waiting for a receipt go first: the broker has them and the backend most likely stored
        # them. Then dead letters: the broker refused them already; the queue still holds deliverable data.
        while self._counter("bytes") > self.max_bytes:
            rows = receipts.oldest_awaiting(self._db, 256)
            if not rows:
                break
            chosen = _oldest_covering(rows, self._counter("bytes") - self.max_bytes)
            _count, freed = receipts.let_go(self._db, chosen)
            self._add("bytes", -freed)
        for table, where in (("dead_letters", ""), ("messages", "WHERE will = 0 AND delivered IS NULL")):
            while self._counter("bytes") > self.max_bytes:
                # Oldest first, in chunks: the quota is a ceiling, not a target to hover at.
                rows = self._db.execute(
                    f"SELECT seq, length(payload) + length(topic) FROM {table} {where} ORDER BY seq LIMIT 256"  # noqa: S608 - constants
                ).fetchall()
                if not rows:
                    break
                chosen = _oldest_covering(rows, self._counter("bytes") - self.max_bytes)
                freed = sum(size for _seq, size in rows[: len(chosen)])
                self._db.executemany(f"DELETE FROM {table} WHERE seq = ?", [(s,) for s in chosen])  # noqa: S608 - constants
                self._add("bytes", -freed)
                dropped += len(chosen)
        if dropped:
            self._add("dropped_total", dropped)
            self._recount_bytes()
            self._db.execute("DELETE FROM refusals WHERE seq NOT IN (SELECT seq FROM messages)")

    def _let_go_awaiting(self, now: float, max_age_cutoff: float) -> int:
        """Messages waiting for a receipt longer than the receipt window, or older than the outbox's
        maximum age, are let go (counted as unreceipted, not dropped: the broker had them)."""
        if self.receipt_window is None:
            return 0
        aged = [
            s
            for (s,) in self._db.execute(
                "SELECT seq FROM messages WHERE delivered IS NOT NULL AND created < ?", (max_age_cutoff,)
            ).fetchall()
        ]
        count = receipts.let_go(self._db, aged)[0]
        window_start = now - self.receipt_window.total_seconds()
        return count + receipts.let_go_delivered_before(self._db, window_start)[0]

    def _recount_bytes(self) -> None:
        total = self._db.execute(
            "SELECT (SELECT coalesce(sum(length(payload) + length(topic)), 0) FROM messages)"
            " + (SELECT coalesce(sum(length(payload) + length(topic)), 0) FROM dead_letters)"
        ).fetchone()[0]
        self._db.execute("UPDATE counters SET value = ? WHERE name = 'bytes'", (total,))

    def _counter(self, name: str) -> int:
        return int(self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    def _add(self, name: str, delta: int) -> None:
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (delta, name))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The lock, with the queued acknowledgements written first, so every method sees them."""
        with self._lock:
            self._settle(strict=False)
            yield

    @contextlib.contextmanager
    def _unsynced(self) -> Iterator[None]:
        """A transaction committed to the WAL without fsync (synchronous=NORMAL), then FULL again."""
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=FULL")


def _oldest_covering(rows: list[tuple[int, int]], excess: int) -> list[int]:
    """The seqs of the first `rows` (seq, size) whose sizes add up to `excess`: the quota is a ceiling,
    not a target to hover at."""
    chosen, freed = [], 0
    for seq, size in rows:
        chosen.append(seq)
        freed += size
        if freed >= excess:
            break
    return chosen


def _message(seq: int, topic: str, payload: bytes, retain: int, created: float) -> OutboxMessage:
    return OutboxMessage(seq, topic, bytes(payload), bool(retain), created)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error, SQLite errors surfaced as OutboxError."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox: cannot start a transaction: {exc}") from exc

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as commit_error:
                self._rollback()
                raise OutboxError(f"outbox: commit failed: {commit_error}") from commit_error
        else:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(f"outbox: {exc}") from exc

    def _rollback(self) -> None:
        # SQLite rolls a transaction back by itself after some errors (SQLITE_FULL at COMMIT among them);
        # a ROLLBACK then raises "no transaction is active" and would hide the error that matters.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
                self._db.execute("ROLLBACK")
