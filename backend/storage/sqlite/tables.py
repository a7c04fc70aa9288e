"""The SQLite schema and how a connection to it is opened (pragmas, durability).

One row per stored field value, not per point: InfluxDB itself keeps one column per series and field, and
storing values that way makes its write semantics plain SQL. A point written again overwrites exactly the
fields it carries (an upsert on the primary key), values keep their SQLite type (REAL, INTEGER, TEXT;
booleans as 0/1 with the type recorded in `fields`), and aggregates are ordinary SQL aggregates over one
typed column, with no JSON to parse and no field name ever spliced into SQL text or a JSON path.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from backend.storage.model import StorageError

#: Bumped when the tables change incompatibly; `setup` refuses a file written by another version.
SCHEMA_VERSION: Final = 1

_TABLES: Final = """
CREATE TABLE IF NOT EXISTS series (
    id          INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags        TEXT NOT NULL,  -- JSON object, keys sorted, compact: one spelling per tag set
    UNIQUE (measurement, tags)
);
CREATE TABLE IF NOT EXISTS fields (
    id          INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('float', 'integer', 'string', 'boolean')),
    UNIQUE (measurement, name)
);
CREATE TABLE IF NOT EXISTS points (
    series_id INTEGER NOT NULL,
    time_ns   INTEGER NOT NULL,
    field_id  INTEGER NOT NULL,
    value     NOT NULL,  -- no declared type: REAL, INTEGER and TEXT are stored and read back unchanged
    PRIMARY KEY (series_id, time_ns, field_id)
) WITHOUT ROWID;
"""


#: Page cache of each storage connection (the writer's and the reader's), KiB.
PAGE_CACHE_KIB: Final = 1024


def connect(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, durable commits."""
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
    # WAL: queries never block writes. synchronous=FULL: a commit is on disk before write() returns,
    # because ingest acknowledges MQTT messages right after it.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    # A fixed page cache per connection, filled within minutes: SQLite's default (2 MB) filled over hours
    # as the file grew and showed as a worker's memory creeping up. A miss costs a read from the OS's
    # file cache, which holds the hot pages anyway.
    db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
    return db


def create(db: sqlite3.Connection) -> None:
    """Create the tables if missing (idempotent) and check the file's schema version."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version not in (0, SCHEMA_VERSION):
        raise StorageError(f"database schema version {version}; this code reads version {SCHEMA_VERSION}")
    db.executescript(f"BEGIN IMMEDIATE; {_TABLES} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
