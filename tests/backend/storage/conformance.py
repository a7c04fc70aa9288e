"""What the storage conformance suites (test_conformance*.py) share: the data and how results compare.

Data goes in through `write()` (contract messages through `schema.to_points`, plus hand-made points);
every expectation is computed by hand here, with values exact in binary so sums and means are exact.
The InfluxQL semantics are in backend/storage/model.py; influxd 1.6 is the reference.

Data of `river_polls` (on DAY0, UTC), channel `level` unless said otherwise::

    ampal-mufakat / wl-radar-1        06:00:00  2.0 good      (distance 4.0)
                                      06:00:30  2.5 good      (distance 3.5)
                                      06:01:00  3.0 suspect   (distance 3.0)
                                      06:01:30  missing       (distance missing)
                                      06:02:00  1.5 good      (distance 4.5)
                                      07:10:00  4.0 good
    sungai-ampal-hulu / wl-radar-1    06:00:00  5.0 good
                                      06:01:00  7.0 good
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from backend.storage.model import (
    FieldValue,
    Row,
    Series,
    SeriesQuery,
    Storage,
)
from backend.storage.schema import (
    READING,
    to_points,
)
from pantau.contract import Readings
from pantau.contract.messages import Quality, Reading, Reason

AMPAL: Final = "ampal-mufakat"
HULU: Final = "sungai-ampal-hulu"
RADAR: Final = "wl-radar-1"
MINUTE: Final = timedelta(minutes=1)
HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)
#: The day the data is on. Recent, not fixed: InfluxDB refuses points older than the raw retention policy
#: (90 days), so a fixed date would fail some day. All expectations are relative to it.
DAY0: Final = datetime.now(UTC).date() - timedelta(days=3)


def at(clock: str, day: int = 0) -> datetime:
    """A UTC time on DAY0 (+ `day` days), e.g. at("06:00:30")."""
    return datetime.fromisoformat(f"{DAY0 + timedelta(days=day)}T{clock}+00:00")


def poll(site: str, device: str, ts: datetime, seq: int, **channels: Reading) -> Readings:
    return Readings(site=site, device=device, gateway=f"gw-{site}", seq=seq, ts=ts, channels=channels)


def good(value: float) -> Reading:
    return Reading(value=value, unit="m")


def river_polls() -> list[Readings]:
    ampal = [
        ("06:00:00", good(2.0), good(4.0)),
        ("06:00:30", good(2.5), good(3.5)),
        ("06:01:00", Reading(value=3.0, unit="m", quality=Quality.SUSPECT, reason=Reason.SPIKE), good(3.0)),
        ("06:01:30", Reading.missing(Reason.TIMEOUT, unit="m"), Reading.missing(Reason.TIMEOUT, unit="m")),
        ("06:02:00", good(1.5), good(4.5)),
    ]
    messages = [
        poll(AMPAL, RADAR, at(clock), seq, level=level, distance=distance)
        for seq, (clock, level, distance) in enumerate(ampal, start=100)
    ]
    messages.append(poll(AMPAL, RADAR, at("07:10:00"), 200, level=good(4.0)))
    messages.append(poll(HULU, RADAR, at("06:00:00"), 7, level=good(5.0)))
    messages.append(poll(HULU, RADAR, at("06:01:00"), 8, level=good(7.0)))
    return messages


async def write_river(storage: Storage) -> None:
    await storage.write([point for message in river_polls() for point in to_points(message)])


def level(
    *,
    start: str = "06:00:00",
    end: str = "08:00:00",
    fields: tuple[str, ...] = ("value",),
    **options: Any,
) -> SeriesQuery:
    """A query on `reading` for the `level` channel (more tag filters may be added)."""
    tags = {"channel": "level"} | options.pop("tags", {})
    return SeriesQuery(READING, fields, at(start), at(end), tags=tags, **options)


def rows(*items: tuple[datetime, dict[str, FieldValue | None]]) -> list[Row]:
    return [Row(time, values) for time, values in items]


def view(result: Sequence[Series]) -> list[Any]:
    """Series as plain data with the type of every value, so 2 and 2.0 or 1 and True do not compare equal."""
    return [
        (
            dict(series.tags),
            [
                (row.time, {name: (type(value).__name__, value) for name, value in row.values.items()})
                for row in series.rows
            ],
        )
        for series in result
    ]


def assert_result(result: Sequence[Series], expected: Sequence[Series]) -> None:
    assert view(result) == view(expected)


# Raw rows -------------------------------------------------------------------------------------------
