"""`InfluxStorage`: the Storage interface on InfluxDB's v1 HTTP API (1.x natively, 2.x and 3.x compatible).

Each measurement lives in the retention policy of its class (`schema.RETENTION`; unknown measurements in
the raw one): `"db"."pantau_raw"."reading"`, `"db"."pantau_long"."vehicle"`. InfluxDB enforces retention,
so `expire` has nothing to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from backend.storage.config import InfluxConfig
from backend.storage.influx import influxql
from backend.storage.influx.client import InfluxHttp
from backend.storage.influx.line_protocol import InvalidPoint, encode_point
from backend.storage.influx.writer import Line, Rejection, Writer
from backend.storage.model import (
    Aggregate,
    FieldValue,
    Point,
    Retention,
    RetentionClass,
    Row,
    Series,
    SeriesQuery,
    StorageRejected,
    TagMatch,
)
from backend.storage.schema import RETENTION
from pantau.resilience import SYSTEM_CLOCK, Clock

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class InfluxStorage:
    def __init__(self, config: InfluxConfig, retention: Retention, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.retention = retention
        self._http = InfluxHttp(config, clock=clock)
        self._writer = Writer(self._http)

    def retention_policy(self, measurement: str) -> str:
        """The retention policy `measurement` is written to and read from."""
        if RETENTION.get(measurement, RetentionClass.RAW) is RetentionClass.LONG:
            return self.config.retention_policy_long
        return self.config.retention_policy_raw

    async def setup(self) -> None:
        """Database and both retention policies (raw the default), created or brought to the configured
        durations. Skipped with `manage_database: false` (2.x buckets, 3.x databases are set up outside)."""
        if not self.config.manage_database:
            return
        database = influxql.quote_ident(self.config.database)
        await self._http.query(f"CREATE DATABASE {database}")
        results = await self._http.query(f"SHOW RETENTION POLICIES ON {database}")
        existing = {row[0] for series in results[0].get("series", []) for row in series.get("values", [])}
        policies = (
            (self.config.retention_policy_raw, self.retention.raw, True),
            (self.config.retention_policy_long, self.retention.long, False),
        )
        for name, keep, default in policies:
            verb = "ALTER" if name in existing else "CREATE"
            duration = "INF" if keep is None else _rp_duration(keep)
            statement = (
                f"{verb} RETENTION POLICY {influxql.quote_ident(name)} ON {database} "
                f"DURATION {duration} REPLICATION 1{' DEFAULT' if default else ''}"
            )
            await self._http.query(statement)

    async def write(self, points: Sequence[Point]) -> None:
        """Write all points that can be stored; then raise StorageRejected listing exactly the others."""
        deadline = self._http.clock.monotonic() + self.config.retry_for.total_seconds()
        by_policy: dict[str, list[Line]] = {}
        lines_of: dict[str, list[Line]] = {}  # measurement -> its policy's lines (one lookup per measurement)
        rejected: list[Rejection] = []
        for point in points:
            try:
                line = point.line if point.line is not None else encode_point(point)
            except InvalidPoint as exc:
                rejected.append(Rejection(point, str(exc)))
                continue
            lines = lines_of.get(point.measurement)
            if lines is None:
                policy = self.retention_policy(point.measurement)
                lines = lines_of[point.measurement] = by_policy.setdefault(policy, [])
            lines.append(Line(point, line.encode()))
        for policy, lines in by_policy.items():
            rejected.extend(await self._writer.write(lines, policy, deadline))
        if rejected:
            raise StorageRejected(
                f"{len(rejected)} of {len(points)} points rejected, first: {rejected[0].reason}",
                [rejection.point for rejection in rejected],
            )

    async def query(self, query: SeriesQuery) -> list[Series]:
        if _matches_nothing(query.tags) or _matches_nothing(query.field_filters):
            return []
        if query.limit == 0 or query.series_limit == 0:
            return []
        policy = self.retention_policy(query.measurement)
        try:
            statements = [
                influxql.show_field_keys(self.config.database, policy, query.measurement),
                influxql.select(query, self.config.database, policy),
            ]
        except (ValueError, TypeError) as exc:
            raise StorageRejected(f"invalid query on {query.measurement!r}: {exc}") from exc
        try:
            field_keys, selected = await self._http.query(";".join(statements))
        except StorageRejected as exc:
            # A missing database or retention policy (before the first write creates them) is no data yet,
            # not an error. A chunked answer names it; a plain one from influxd 1.x says only "not executed"
            # for a failure inside a multi-statement query: then the statements run one by one to learn why.
            if _not_created_yet(exc):
                return []
            if "not executed" not in str(exc):
                raise
            try:
                field_keys, selected = [(await self._http.query(statement))[0] for statement in statements]
            except StorageRejected as alone:
                if _not_created_yet(alone):
                    return []
                raise
        types = {row[0]: row[1] for series in field_keys.get("series", []) for row in series["values"]}
        result = [_series(raw, query, types) for raw in selected.get("series", [])]
        result.sort(key=lambda series: sorted(series.tags.items()))
        return result if query.series_limit is None else result[: query.series_limit]

    async def tag_values(
        self, measurement: str, tag: str, tags: Mapping[str, TagMatch] | None = None
    ) -> list[str]:
        if _matches_nothing(tags or {}):
            return []
        policy = self.retention_policy(measurement)
        try:
            statement = influxql.show_tag_values(self.config.database, policy, measurement, tag, tags or {})
        except (ValueError, TypeError) as exc:
            raise StorageRejected(f"invalid tag query on {measurement!r}: {exc}") from exc
        (result,) = await self._http.query(statement)
        return sorted({row[1] for series in result.get("series", []) for row in series["values"]})

    async def expire(self, now: datetime) -> None:
        """Nothing to do: InfluxDB's retention policies drop old shards themselves."""

    async def ping(self) -> None:
        await self._http.ping()

    async def close(self) -> None:
        """Writes are not buffered here (each `write` is stored when it returns): just release connections."""
        await self._http.aclose()


def _rp_duration(keep: timedelta) -> str:
    # InfluxQL retention durations take the same literals as GROUP BY time().
    return influxql.duration_literal(keep)


def _matches_nothing(filters: Mapping[str, Any]) -> bool:
    """A filter with an empty tuple of allowed values matches no row."""
    return any(value == () for value in filters.values())


def _not_created_yet(exc: StorageRejected) -> bool:
    return "retention policy not found" in str(exc) or "database not found" in str(exc)


def _series(raw: dict[str, Any], query: SeriesQuery, types: Mapping[str, str]) -> Series:
    # Whole: the client assembles chunked answers and refuses a truncated one (chunks.py).
    rows = []
    for values in raw.get("values", []):
        fields = {
            name: _typed(value, types.get(name), query.agg)
            for name, value in zip(query.fields, values[1:], strict=True)
        }
        rows.append(Row(_EPOCH + timedelta(microseconds=values[0] // 1000), fields))
    return Series(dict(raw.get("tags") or {}), rows)


def _typed(value: Any, field_type: str | None, agg: Aggregate | None) -> FieldValue | None:
    """JSON writes the float 2.0 as `2`: restore the type InfluxDB stored (or the aggregate yields)."""
    if value is None:
        return None
    if agg is Aggregate.COUNT:
        return int(value)
    if agg is Aggregate.MEAN or (field_type == "float" and isinstance(value, int)):
        return float(value)
    result: FieldValue = value
    return result
