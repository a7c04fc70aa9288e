"""The embedded SQLite implementation of `backend.storage.model.Storage` (README.md has the why).

Design in one breath: `series` (measurement + canonical tag JSON) and `fields` (name + type) tables, and
`points` with one row per field value keyed (series, time, field), so InfluxDB's field-by-field overwrite is
an upsert and no field name reaches SQL text; WAL + synchronous=FULL, one transaction per write; a writer
thread and a reader thread own one connection each. Modules: `tables` (schema), `writer` (checks, upserts,
expiry), `reader` (queries), `buckets` (InfluxDB's GROUP BY time buckets, time zones included), `storage`.
"""

from backend.storage.sqlite.storage import SqliteStorage

__all__ = ["SqliteStorage"]
