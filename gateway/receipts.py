"""The outbox's end-to-end acknowledgement: SQL run on the outbox's own connection while
`gateway.outbox.Outbox` holds its lock and transaction and keeps its counters.

A broker's PUBACK says only that the broker has a message. A broker that crashes before it saved or
delivered it loses it (Mosquitto saves every `autosave_interval`), and a broker without persistence that
restarts discards whatever arrives before the backend has subscribed again. So, with receipts on, a PUBACK
does not delete a message: it stamps `delivered`, and the message waits ("awaiting its receipt") until a
backend worker's `receipt` names its sequence number (pantau.contract.Receipt), which deletes it.

A receipt also shows what was skipped. Receipts come in the order the broker delivered (one queue per
subscriber); a message delivered more than `grace` seconds before one a receipt now confirms, and itself
not confirmed, was lost between the broker and the backend: it is parked with no refusals, so the
publisher's retry path sends it again at once. `grace` covers batches of several workers on a shared
subscription overtaking one another; a resend it gets wrong is a duplicate, which storage overwrites. While
no receipts come (the backend is away) nothing is resent: the broker queues for the backend.

`delivered` is wall time from the outbox's clock: a clock stepped forward can make a receipt look later
than it is and resend what was only slow (a duplicate), never keep back what was lost for longer than a
later receipt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: Columns added to `messages` (older outbox files gain them when opened), and the counter.
COLUMNS: Final = (("delivered", "REAL"), ("resends", "INTEGER NOT NULL DEFAULT 0"))
SCHEMA: Final = """
CREATE INDEX IF NOT EXISTS messages_delivered ON messages (delivered) WHERE delivered IS NOT NULL;
INSERT OR IGNORE INTO counters VALUES ('unreceipted_total', 0);
"""
_CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What one receipt did: messages deleted, sent again, and let go (resent too often)."""

    confirmed: int
    resent: list[int]
    let_go: int
    freed_bytes: int


def add_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    for name, declaration in COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE messages ADD COLUMN {name} {declaration}")  # constants only
    db.executescript(SCHEMA)


def mark_delivered(db: sqlite3.Connection, seqs: Sequence[int], now: float) -> None:
    """The broker has these: they wait for their receipt. A will the broker was handed becomes an ordinary
    message (will = 0) so the next connection does not publish it again itself."""
    for start in range(0, len(seqs), _CHUNK):
        chunk = list(seqs[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        db.execute(
            f"UPDATE messages SET delivered = ?, will = 0 WHERE seq IN ({marks}) AND delivered IS NULL",  # noqa: S608 - marks only
            [now, *chunk],
        )
        db.execute(f"DELETE FROM refusals WHERE seq IN ({marks})", chunk)  # noqa: S608 - marks only


def confirm(
    db: sqlite3.Connection, ranges: Iterable[tuple[int, int]], *, grace_s: float, resends: int
) -> Confirmed:
    """Delete the delivered messages a receipt names; send again, or let go after `resends`, the unconfirmed
    ones delivered more than `grace_s` before them. Only delivered ones: a message whose PUBACK was lost with
    its connection is sent again (a duplicate, which storage overwrites), and one not sent yet can never be
    taken for another by a receipt that names numbers this outbox did not give out."""
    newest: float | None = None
    confirmed = freed = 0
    for first, last in ranges:
        latest, size, count = db.execute(
            "SELECT max(delivered), coalesce(sum(length(payload) + length(topic)), 0), count(*)"
            " FROM messages WHERE seq BETWEEN ? AND ? AND delivered IS NOT NULL",
            (first, last),
        ).fetchone()
        if count:
            db.execute(
                "DELETE FROM messages WHERE seq BETWEEN ? AND ? AND delivered IS NOT NULL", (first, last)
            )
            confirmed += count
            freed += int(size)
        if latest is not None and (newest is None or latest > newest):
            newest = latest
    resent: list[int] = []
    let_go = 0
    if newest is not None:
        skipped = db.execute(
            "SELECT seq, resends FROM messages WHERE delivered IS NOT NULL AND delivered < ? ORDER BY seq",
            (newest - grace_s,),
        ).fetchall()
        resent = [seq for seq, count in skipped if count < resends]
        given_up = [seq for seq, count in skipped if count >= resends]
        keys = [(seq,) for seq in resent]
        db.executemany("UPDATE messages SET delivered = NULL, resends = resends + 1 WHERE seq = ?", keys)
        db.executemany("INSERT OR REPLACE INTO refusals (seq, attempts) VALUES (?, 0)", keys)
        let_go, size = _let_go(db, given_up)
        freed += size
    return Confirmed(confirmed, resent, let_go, freed)


def let_go_delivered_before(db: sqlite3.Connection, cutoff: float) -> tuple[int, int]:
    """Let go of (and count) messages waiting for a receipt since before `cutoff`, the receipt window:
    how many, and the bytes freed."""
    seqs = [s for (s,) in db.execute("SELECT seq FROM messages WHERE delivered < ?", (cutoff,)).fetchall()]
    return _let_go(db, seqs)


def let_go(db: sqlite3.Connection, seqs: Sequence[int]) -> tuple[int, int]:
    """Let go of (and count) these messages waiting for a receipt: how many, and the bytes freed."""
    return _let_go(db, seqs)


def oldest_awaiting(db: sqlite3.Connection, limit: int) -> list[tuple[int, int]]:
    """(seq, size) of the oldest messages waiting for a receipt: the first to go when the quota needs room
    (the broker has them; the backend has most likely stored them)."""
    return db.execute(
        "SELECT seq, length(payload) + length(topic) FROM messages WHERE delivered IS NOT NULL"
        " ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()


def _let_go(db: sqlite3.Connection, seqs: Sequence[int]) -> tuple[int, int]:
    freed = 0
    for seq in seqs:
        row = db.execute(
            "DELETE FROM messages WHERE seq = ? RETURNING length(payload) + length(topic)", (seq,)
        ).fetchone()
        freed += int(row[0]) if row else 0
    db.executemany("DELETE FROM refusals WHERE seq = ?", [(s,) for s in seqs])
    db.execute("UPDATE counters SET value = value + ? WHERE name = 'unreceipted_total'", (len(seqs),))
    return len(seqs), freed
