"""The rules engine's durable state (SQLite, WAL): a snapshot, a journal since it, and the effects the
engine has yet to deliver.

After each evaluated batch (or tick with transitions, or acknowledgement) its journal entry — the decoded
messages and the clock it ran at — and its effects (alert transitions, QC and ODOL points) are committed in
one transaction, and only then are the MQTT messages acknowledged. Every minute (or when the journal grows
long) the whole engine is snapshotted instead, with the rules it runs, and the journal emptied. A restart
restores the snapshot and re-runs the journal through the engine under those rules (it is deterministic in
its inputs and injected time), so it resumes exactly where it was — no pending timer lost, no firing
repeated — and effects not yet delivered (stored, published, notified) are delivered after the restart, at
least once.

Why not a snapshot per batch: the engine's windows are large (a 24 h rain accumulation at 10 s polls is
8,640 samples per gauge, a 14-day WIM drift window at 1,000 3-S2 trucks a day 14,000 axles); for one gauge
and one scale that was 1.1 MB of JSON and 56 ms of CPU per batch, growing with every site.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from backend.ingest.spool import decode_points, encode_points
from backend.storage.model import Point
from pantau.contract import AlertTransition, decode, encode

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS snapshot (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    data  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rules (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    document  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    entry  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS effects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    transitions TEXT NOT NULL,
    points      TEXT NOT NULL
);
"""


class RulesStateError(RuntimeError):
    """The rules state database cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class Effects:
    """What one evaluation produced, to deliver: transitions to store/publish/notify, points to store."""

    id: int
    transitions: list[AlertTransition]
    points: list[Point]


class RulesState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise RulesStateError(f"cannot open rules state {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def snapshot(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def rules_document(self) -> str | None:
        """The rules (JSON, as loaded) the snapshot and the journal were written under."""
        with self._lock:
            row = self._db.execute("SELECT document FROM rules WHERE id = 1").fetchone()
        return None if row is None else str(row[0])

    def set_aside(self, stamp: str) -> Path:
        """Move the snapshot, its rules and the journal out of the way, as they are, into
        `<state>.unrestorable-<stamp>.json` (kept for a post-mortem), leaving the effects to deliver;
        returns the file written."""
        kept = self.path.with_name(f"{self.path.name}.unrestorable-{stamp}.json")
        with self._lock:
            raw = {
                table: [row[0] for row in self._db.execute(f"SELECT {column} FROM {table} ORDER BY id")]  # noqa: S608 - fixed names
                for table, column in (("snapshot", "data"), ("rules", "document"), ("journal", "entry"))
            }
        kept.write_text(json.dumps(raw), encoding="utf-8")
        with self._lock, self._transaction():
            for table in raw:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        return kept

    def journal(self) -> list[dict[str, Any]]:
        """The entries committed since the snapshot, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT entry FROM journal ORDER BY id").fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def commit(
        self,
        transitions: Sequence[AlertTransition],
        points: Sequence[Point],
        *,
        snapshot: dict[str, Any] | None = None,
        rules: str | None = None,
        entry: dict[str, Any] | None = None,
    ) -> None:
        """Queue the effects with either the engine's whole state and the rules it runs (which empties the
        journal: it covers every entry so far) or one more journal entry, atomically."""
        if (snapshot is None) == (entry is None) or (snapshot is None) != (rules is None):
            raise ValueError("commit takes a snapshot with its rules, or a journal entry")
        with self._lock, self._transaction():
            if snapshot is not None:
                self._db.execute(
                    "INSERT INTO snapshot (id, data) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                    (json.dumps(snapshot, separators=(",", ":")),),
                )
                self._db.execute(
                    "INSERT INTO rules (id, document) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET document = excluded.document",
                    (rules,),
                )
                self._db.execute("DELETE FROM journal")
            else:
                self._db.execute(
                    "INSERT INTO journal (entry) VALUES (?)", (json.dumps(entry, separators=(",", ":")),)
                )
            if transitions or points:
                self._db.execute(
                    "INSERT INTO effects (transitions, points) VALUES (?, ?)",
                    (json.dumps([encode(t).decode() for t in transitions]), encode_points(points)),
                )

    def pending(self, limit: int = 100) -> list[Effects]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, transitions, points FROM effects ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        effects = []
        for row_id, transitions, points in rows:
            decoded = [decode(text) for text in json.loads(transitions)]
            effects.append(
                Effects(row_id, [t for t in decoded if isinstance(t, AlertTransition)], decode_points(points))
            )
        return effects

    def settling(self) -> frozenset[str]:
        """The alerts with a transition committed and not yet delivered."""
        with self._lock:
            rows = self._db.execute("SELECT transitions FROM effects WHERE transitions != '[]'").fetchall()
        return frozenset(
            t.alert_id
            for (transitions,) in rows
            for t in map(decode, json.loads(transitions))
            if isinstance(t, AlertTransition)
        )

    def delivered(self, through_id: int) -> None:
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM effects WHERE id <= ?", (through_id,))

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
            raise RulesStateError(f"rules state {self.path}: {exc}") from exc
