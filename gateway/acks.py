"""The outbox's acknowledgements: what a PUBACK changes (SQL run on the outbox's own connection while
`gateway.outbox.Outbox` holds its lock and transaction, as gateway.receipts and gateway.dead_letters), and
the queue `Outbox.ack_later` fills.

The publisher acknowledges every poll cycle. Written in a transaction of its own, each acknowledgement
cost a commit and a hand-off to the outbox's thread; queued instead, it is written by the outbox's next
transaction (usually the next cycle's append), and every outbox method writes the queue before it reads.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Final

from gateway import receipts

_CHUNK: Final = 500  # below SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledgement: the seqs, the retained (topic, seq) among them, and when (a receipt's grace
    counts from the PUBACK, not from the write)."""

    seqs: list[int]
    retained: list[tuple[str, int]]
    at: float


class AckQueue:
    """Acknowledgements not yet written, oldest first (thread-safe: the event loop puts, the outbox's
    thread writes)."""

    def __init__(self) -> None:
        self._acks: list[Ack] = []
        self._lock = threading.Lock()  # not the outbox's: queueing must not wait for an fsync

    def put(self, ack: Ack) -> None:
        with self._lock:
            self._acks.append(ack)

    def waiting(self) -> list[Ack]:
        """What to write now; `written(...)` once it is committed (a failed write keeps it queued)."""
        with self._lock:
            return list(self._acks)

    def written(self, acks: list[Ack]) -> None:
        with self._lock:
            del self._acks[: len(acks)]  # those queued meanwhile stay: they were appended after


def write(db: sqlite3.Connection, ack: Ack, *, awaiting_receipts: bool) -> int:
    """Apply `ack`: with receipts awaited, stamp the messages delivered; otherwise delete them. Returns
    the bytes freed (for the outbox's counter)."""
    db.executemany(
        "INSERT INTO retained (topic, seq) VALUES (?, ?)"
        " ON CONFLICT (topic) DO UPDATE SET seq = max(seq, excluded.seq)",
        ack.retained,
    )
    if awaiting_receipts:
        receipts.mark_delivered(db, ack.seqs, ack.at)
        return 0
    freed = 0
    for start in range(0, len(ack.seqs), _CHUNK):  # one size query and one delete per chunk
        chunk = ack.seqs[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        where = f"WHERE seq IN ({marks})"  # only '?' marks are interpolated; values are bound
        size = "SELECT coalesce(sum(length(payload) + length(topic)), 0) FROM messages " + where  # noqa: S608
        freed += int(db.execute(size, chunk).fetchone()[0])
        db.execute("DELETE FROM messages " + where, chunk)  # noqa: S608
        db.execute("DELETE FROM refusals " + where, chunk)  # noqa: S608
    return freed
