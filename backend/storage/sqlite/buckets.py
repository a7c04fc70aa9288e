"""Time buckets of aggregated queries, drawn exactly as InfluxDB 1.x draws them (`GROUP BY time(every)`).

Without a zone, a bucket starts at a multiple of `every` since the Unix epoch. With `tz(...)`, InfluxDB
truncates local wall-clock time instead (query.IteratorOptions.Window in influxd), per point `t`::

    z     = UTC offset at t
    c     = t - ((t + z) mod every)        local truncation, expressed with the offset at t
    o     = z - (UTC offset at c)
    start = c + o  if 0 < |o| < every  else  c

so a day bucket starts at local midnight even on a day the clocks change (it lasts 23 or 25 hours), and
the repeated hour of a fall-back night is two separate hour buckets. Asia/Makassar never changes, but
the same code serves every zone.

SQL evaluates this per stored value: the zone's offsets become a CASE over the instants where the offset
changes within the data, which zoneinfo yields here (sampled daily, then bisected to the second).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

_NS_PER_S: Final = 1_000_000_000
_DAY_S: Final = 86_400
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Python datetimes cover years 1..9999; int64 nanoseconds (what InfluxDB stores) stay well inside.
_MIN_S: Final = -(2**63) // _NS_PER_S
_MAX_S: Final = (2**63 - 1) // _NS_PER_S

SqlParams = dict[str, int | float | str]


@dataclass(frozen=True, slots=True)
class Offsets:
    """A zone's UTC offsets (ns) over a span: `offsets[i]` holds before `changes[i]`, the last one after."""

    changes: tuple[int, ...]
    offsets: tuple[int, ...]

    def sql(self, column: str, name: str, params: SqlParams) -> str:
        """A SQL expression for the offset at `column` (a column name of ours, never caller text)."""
        params.update({f"{name}_z{i}": offset for i, offset in enumerate(self.offsets)})
        params.update({f"{name}_t{i}": change for i, change in enumerate(self.changes)})
        if not self.changes:
            return f":{name}_z0"
        cases = " ".join(f"WHEN {column} < :{name}_t{i} THEN :{name}_z{i}" for i in range(len(self.changes)))
        return f"(CASE {cases} ELSE :{name}_z{len(self.changes)} END)"


UTC_OFFSETS: Final = Offsets((), (0,))


def zone_offsets(zone: ZoneInfo, first_ns: int, last_ns: int, every_ns: int) -> Offsets:
    """The offsets of `zone` wherever a bucket of points in [first_ns, last_ns] can start or end."""
    # A bucket starts up to `every` (plus the offset) before its first point: look that far back.
    lo = max(_MIN_S, (first_ns - every_ns) // _NS_PER_S - 2 * _DAY_S)
    hi = min(_MAX_S, last_ns // _NS_PER_S + 2 * _DAY_S)
    changes: list[int] = []
    offsets = [_offset_s(zone, lo)]
    at = lo
    while at < hi:
        step_to = min(at + _DAY_S, hi)
        offset = _offset_s(zone, step_to)
        if offset != offsets[-1]:
            changes.append(_first_second_with(zone, at, step_to, offset))
            offsets.append(offset)
        at = step_to
    return Offsets(
        tuple(change * _NS_PER_S for change in changes), tuple(offset * _NS_PER_S for offset in offsets)
    )


def _offset_s(zone: ZoneInfo, second: int) -> int:
    offset = (_EPOCH + timedelta(seconds=second)).astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def _first_second_with(zone: ZoneInfo, before: int, at: int, offset: int) -> int:
    """The first second in (before, at] where `zone` has `offset` (it has another one at `before`)."""
    while at - before > 1:
        middle = (before + at) // 2
        if _offset_s(zone, middle) == offset:
            at = middle
        else:
            before = middle
    return at
