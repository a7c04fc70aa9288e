"""The outbox's refused-message path: its tables and SQL, run on the outbox's own connection while
`gateway.outbox.Outbox` holds its lock and transaction and keeps its counters.

A message the broker refuses (MQTT v5 PUBACK reason code >= 0x80) is parked: it stays in `messages`, with
a row in `refusals`, and only the publisher's retry path sends it again, so it never holds back the messages
behind it. After `limit` refusals it moves, with its sequence number, to `dead_letters` (in the caller's one
transaction), where it waits for a technician (`pantau gateway dead-letters`) to re-queue or drop it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS refusals (
    seq         INTEGER PRIMARY KEY,
    attempts    INTEGER NOT NULL,
    reason_code INTEGER,
    reason      TEXT,
    first_at    REAL,
    last_at     REAL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq         INTEGER PRIMARY KEY,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    retain      INTEGER NOT NULL,
    created     REAL    NOT NULL,
    reason_code INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    first_at    REAL    NOT NULL,
    last_at     REAL    NOT NULL
);
INSERT OR IGNORE INTO counters VALUES ('dead_lettered_total', 0);
"""
# refusals: the parked messages: refusals so far, the last reason, first and last time. A technician's
# re-queue parks a dead letter again with 0 attempts, so the retry path (not the queue's cursors, which are
# past it) sends it. IF NOT EXISTS: outbox files of earlier versions gain the tables when opened.


@dataclass(frozen=True, slots=True)
class Refusal:
    """The broker refused message `seq` with `reason_code` (>= 0x80), named `reason`."""

    seq: int
    reason_code: int
    reason: str


def refuse(db: sqlite3.Connection, refusals: Sequence[Refusal], *, now: float, limit: int) -> list[int]:
    """Count one refusal of each message still queued (parking it); move those refused `limit` times to the
    dead letters. Returns the seqs moved."""
    db.executemany(
        "INSERT INTO refusals (seq, attempts, reason_code, reason, first_at, last_at)"
        " SELECT ?, 1, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE seq = ?)"
        " ON CONFLICT (seq) DO UPDATE SET attempts = attempts + 1,"
        " reason_code = excluded.reason_code, reason = excluded.reason,"
        " first_at = coalesce(first_at, excluded.first_at), last_at = excluded.last_at",
        [(r.seq, r.reason_code, r.reason, now, now, r.seq) for r in refusals],
    )
    due = "SELECT seq FROM refusals WHERE attempts >= ?"
    moved = [seq for (seq,) in db.execute(due + " ORDER BY seq", (limit,)).fetchall()]
    if moved:
        db.execute(
            "INSERT INTO dead_letters SELECT m.seq, m.topic, m.payload, m.retain, m.created,"
            " r.reason_code, r.reason, r.attempts, r.first_at, r.last_at"
            " FROM messages m JOIN refusals r USING (seq) WHERE r.attempts >= ?",
            (limit,),
        )
        db.execute(f"DELETE FROM messages WHERE seq IN ({due})", (limit,))  # noqa: S608 - constant
        db.execute("DELETE FROM refusals WHERE attempts >= ?", (limit,))
    return moved


def parked(db: sqlite3.Connection, limit: int) -> list[Any]:
    """Rows (seq, topic, payload, retain, created, attempts) of the parked messages, oldest first."""
    return db.execute(
        "SELECT m.seq, m.topic, m.payload, m.retain, m.created, r.attempts"
        " FROM messages m JOIN refusals r USING (seq) ORDER BY m.seq LIMIT ?",
        (limit,),
    ).fetchall()


def held(db: sqlite3.Connection) -> list[Any]:
    """Rows (seq, topic, payload, retain, created, reason_code, reason, attempts, first_at, last_at)."""
    return db.execute(
        "SELECT seq, topic, payload, retain, created,"
        " reason_code, reason, attempts, first_at, last_at FROM dead_letters ORDER BY seq"
    ).fetchall()


def requeue(db: sqlite3.Connection, seqs: Iterable[int] | None) -> list[int]:
    """Dead letters (all when `seqs` is None) back to the queue with their seqs, parked with no refusals."""
    moved = [(seq,) for seq in _chosen(db, seqs)]
    db.executemany(
        "INSERT INTO messages (seq, topic, payload, retain, created, will)"
        " SELECT seq, topic, payload, retain, created, 0 FROM dead_letters WHERE seq = ?",
        moved,
    )
    db.executemany("INSERT OR REPLACE INTO refusals (seq, attempts) VALUES (?, 0)", moved)
    db.executemany("DELETE FROM dead_letters WHERE seq = ?", moved)
    return [seq for (seq,) in moved]


def drop(db: sqlite3.Connection, seqs: Iterable[int] | None) -> tuple[list[int], int]:
    """Delete dead letters (all when `seqs` is None); the seqs and the bytes freed."""
    dropped, freed = _chosen(db, seqs), 0
    for seq in dropped:
        (size,) = db.execute(
            "DELETE FROM dead_letters WHERE seq = ? RETURNING length(payload) + length(topic)", (seq,)
        ).fetchone()
        freed += int(size)
    return dropped, freed


def _chosen(db: sqlite3.Connection, seqs: Iterable[int] | None) -> list[int]:
    held = [seq for (seq,) in db.execute("SELECT seq FROM dead_letters ORDER BY seq").fetchall()]
    if seqs is None:
        return held
    wanted = set(seqs)
    return [seq for seq in held if seq in wanted]
