"""The storage interface both backends implement (InfluxDB over its v1 HTTP API, and embedded SQLite).

A `Point` is one row of the time-series schema (docs/storage.md): measurement, tags, fields, time in ns.
Writes are idempotent: a point with the same measurement, tag set and time replaces the earlier one field
by field, exactly as InfluxDB does, so at-least-once delivery never double counts.

Queries follow InfluxQL semantics so both backends answer identically (tests run the same suite on both):

- `start` inclusive, `end` exclusive; results in time order (`descending` reverses it).
- Without `every`/`agg` a query returns raw rows; with them, one row per non-empty time bucket
  (InfluxQL `fill(none)`), the bucket start as its time. Buckets align to the Unix epoch, or to local
  midnight/hour boundaries of `tz` (an IANA zone such as `Asia/Makassar`).
- `group_by` tags split the result into one `Series` per distinct tag combination (absent tag = "").
  `ALL_TAGS` groups by every tag, which is how a raw query returns each row's tags.
- `limit`/`offset` apply per series (InfluxQL LIMIT/OFFSET), `series_limit` caps the number of series.
- `tags` and `field_filters` are equality filters; a tuple value means "any of these".

Errors::

    StorageError
     ├── StorageUnavailable   the server is down, overloaded or timed out: retry later, keep the data
     └── StorageRejected      the request itself is wrong (bad query, rejected points): do not retry
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

FieldValue = float | int | str | bool
#: Tag value filters: one value, or any of several.
TagMatch = str | tuple[str, ...]
#: Sentinel for `group_by`: one series per complete tag set.
ALL_TAGS: Final = ("*",)


class StorageError(Exception):
    """Base of storage failures."""


class StorageUnavailable(StorageError):
    """Transient: the server is unreachable, overloaded (5xx/429) or timed out. Retry with back-off."""


class StorageRejected(StorageError):
    """Permanent: the request or some points were refused. `rejected` holds the points refused, if known."""

    def __init__(self, message: str, rejected: Sequence[Point] = ()) -> None:
        super().__init__(message)
        self.rejected = list(rejected)


@dataclass(frozen=True, slots=True)
class Point:
    """One row: measurement, tags (identify the series), fields (the values), time in ns since the epoch.

    Field types are fixed per measurement and field name (schema in docs/storage.md): numbers that are
    measurements are always `float` (never int), counters `int`, text `str`, flags `bool`.
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int
    #: The point as InfluxDB line protocol, when its producer wrote it straight from the data it came from
    #: (ingest's fast path: backend/storage/influx/line_protocol.py `reading_lines`); storage that speaks
    #: line protocol sends it as is. Not part of the point's identity.
    line: str | None = field(default=None, compare=False, repr=False)


class Aggregate(StrEnum):
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    LAST = "last"
    FIRST = "first"
    SUM = "sum"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """What to read; see the module docstring for the semantics both backends honour."""

    measurement: str
    fields: tuple[str, ...]
    start: datetime
    end: datetime
    tags: Mapping[str, TagMatch] = field(default_factory=dict)
    field_filters: Mapping[str, FieldValue | tuple[FieldValue, ...]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    every: timedelta | None = None
    agg: Aggregate | None = None
    tz: str | None = None
    limit: int | None = None
    offset: int = 0
    series_limit: int | None = None
    descending: bool = False

    def __post_init__(self) -> None:
        if (self.every is None) != (self.agg is None):
            msg = "`every` and `agg` go together: both for an aggregated query, neither for raw rows"
            raise ValueError(msg)
        if not self.fields:
            msg = "a query names at least one field"
            raise ValueError(msg)
        if self.start.tzinfo is None or self.end.tzinfo is None:
            msg = "query times must be timezone-aware"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Row:
    """One raw point or one bucket. `values` maps each queried field to its value (None when absent);
    under `ALL_TAGS` grouping the series tags are in `Series.tags`, not here."""

    time: datetime
    values: Mapping[str, FieldValue | None]


@dataclass(frozen=True, slots=True)
class Series:
    tags: Mapping[str, str]
    rows: list[Row]


class Storage(Protocol):
    """The one interface ingest, rules and the API use. Implementations are async and safe to share
    between tasks of one event loop."""

    async def setup(self) -> None:
        """Create what is missing (database, retention policies, tables). Idempotent."""

    async def write(self, points: Sequence[Point]) -> None:
        """Store points durably before returning; raises StorageUnavailable (retry) or StorageRejected."""

    async def query(self, query: SeriesQuery) -> list[Series]:
        """Run a query; series ordered by their tag values, rows by time."""

    async def tag_values(
        self, measurement: str, tag: str, tags: Mapping[str, TagMatch] | None = None
    ) -> list[str]:
        """Distinct values of one tag (optionally among series matching `tags`), sorted."""

    async def expire(self, now: datetime) -> None:
        """Delete what retention no longer keeps (a no-op where the server enforces retention itself)."""

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the storage answers now (readiness checks)."""

    async def close(self) -> None:
        """Flush and release connections."""


#: Five years: enforcement records (vehicles, verdicts) and alert history outlast an appeal or audit
#: cycle, and five flood seasons of rollups compare years (disk budget per site: docs/storage.md).
LONG_RETENTION: Final = timedelta(days=5 * 365)


class RetentionClass(StrEnum):
    """How long a measurement is kept: raw data N days, derived and enforcement data long-term."""

    RAW = "raw"
    LONG = "long"


@dataclass(frozen=True, slots=True)
class Retention:
    """Retention settings: `raw` for readings and status, `long` (None = forever) for rollups,
    vehicles and alerts. InfluxDB 1.x enforces them with retention policies; SQLite with `expire`.
    Both bounded by default (`RetentionConfig` in backend/storage/config.py)."""

    raw: timedelta = timedelta(days=90)
    long: timedelta | None = LONG_RETENTION
