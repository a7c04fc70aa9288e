"""Answers over 10,000 rows from a real influxd 1.6: read whole (chunked), and a truncated one refused.

influxd 1.6 marks any series over 10,000 rows `"partial": true` in a plain (non-chunked) /query answer, even
when every row is there; a chunked answer flags each piece of a series partial until its last one. The
storage must return the whole series, as SQLite does, and still refuse an answer that really is cut short.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.influx.chunks import ChunkedResults
from backend.storage.model import Aggregate, Point, Retention, SeriesQuery, StorageRejected
from backend.storage.schema import READING, time_ns
from backend.storage.sqlite import SqliteStorage
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.process import start_with_port_retries

pytestmark = pytest.mark.services

ROWS = 20_000  # twice influxd's 10,000-row piece: a 14-day chart at one point a minute
# Inside the raw retention policy (points beyond it are refused) and wholly in the past.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=20)
MINUTE = timedelta(minutes=1)


def level(device: str, i: int) -> Point:
    fields = {"value": i / 4, "quality": "good", "qc_flag": 1}
    return Point(READING, {"site": "ampal", "device": device}, fields, time_ns(T0 + i * MINUTE))


BIG = [level("wl-1", i) for i in range(ROWS)]
SMALL = [level("wl-2", i) for i in range(3)]
QUERY = SeriesQuery(READING, ("value",), T0, T0 + (ROWS + 1) * MINUTE, group_by=("device",))


async def read_back(storage: InfluxStorage) -> dict[str, list[tuple[datetime, object]]]:
    await storage.write(BIG + SMALL)
    series = await storage.query(QUERY)
    return {s.tags["device"]: [(row.time, row.values["value"]) for row in s.rows] for s in series}


def expected(points: list[Point]) -> list[tuple[datetime, object]]:
    return [(T0 + i * MINUTE, point.fields["value"]) for i, point in enumerate(points)]


async def test_a_series_over_10000_rows_is_read_whole(influx_storage: InfluxStorage) -> None:
    read = await read_back(influx_storage)
    assert read["wl-1"] == expected(BIG)
    assert read["wl-2"] == expected(SMALL)


@pytest.fixture(scope="module")
def limited_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """An influxd whose max-row-limit (5,000) is below the series' length."""
    server = Influxd(
        tmp_path_factory.mktemp("influxd-limited"), require_binary("influxd", "influxdb"), max_row_limit=5_000
    )
    start_with_port_retries(server)
    yield server
    server.stop()


def raw_answer(server: Influxd, db: str, **params: str) -> list[dict[str, Any]]:
    """influxd's own /query answer to QUERY's statement, one parsed JSON object per line (chunk)."""
    statement = 'SELECT "value" FROM "reading" GROUP BY "device"'  # QUERY's, in the default (raw) policy
    form = {"q": statement, "db": db, "epoch": "ns"} | params
    response = httpx.post(f"{server.url}/query", data=form, timeout=30)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


@pytest.fixture
async def limited(limited_influxd: Influxd) -> AsyncIterator[tuple[InfluxStorage, str]]:
    """A set-up storage on its own database of the limited influxd, holding BIG and SMALL."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    storage = InfluxStorage(
        InfluxConfig(url=limited_influxd.url, database=database, retry_for=5), Retention()
    )
    await storage.setup()
    await storage.write(BIG + SMALL)
    yield storage, database
    await storage.close()
    limited_influxd.drop_database(database)


async def test_max_row_limit_cuts_a_plain_answer_but_not_the_storage_read(
    limited_influxd: Influxd, limited: tuple[InfluxStorage, str]
) -> None:
    storage, database = limited
    (plain,) = raw_answer(limited_influxd, database)
    (cut,) = plain["results"][0]["series"]  # the limit is real: wl-2 is missing, wl-1 cut and flagged
    assert cut["partial"] is True
    assert len(cut["values"]) <= 5_000
    series = await storage.query(QUERY)
    read = {s.tags["device"]: [(row.time, row.values["value"]) for row in s.rows] for s in series}
    assert read == {"wl-1": expected(BIG), "wl-2": expected(SMALL)}


async def test_a_plain_answer_cut_by_max_row_limit_is_refused(
    limited_influxd: Influxd, limited: tuple[InfluxStorage, str]
) -> None:
    """What a server that ignores `chunked` answers past its row limit: one object, a series still partial."""
    _, database = limited
    answer = ChunkedResults("SELECT ...")
    for chunk in raw_answer(limited_influxd, database):
        answer.add(chunk)
    with pytest.raises(StorageRejected, match="truncated the answer to statement 0"):
        answer.results()


async def test_a_chunk_stream_cut_short_is_refused(influxd: Influxd, influx_storage: InfluxStorage) -> None:
    await influx_storage.write(BIG + SMALL)
    chunks = raw_answer(influxd, influx_storage.config.database, chunked="true", chunk_size="7000")
    assert len(chunks) == 4  # wl-1 in three pieces (7,000, 7,000, 6,000 rows), then wl-2
    whole = ChunkedResults("SELECT ...")
    for chunk in chunks:
        whole.add(chunk)
    (result,) = whole.results()
    assert [len(series["values"]) for series in result["series"]] == [ROWS, len(SMALL)]
    for kept in range(1, len(chunks)):  # cut inside wl-1, and after it with wl-2 still announced
        cut = ChunkedResults("SELECT ...")
        for chunk in chunks[:kept]:
            cut.add(chunk)
        with pytest.raises(StorageRejected, match="truncated"):
            cut.results()


async def test_long_series_read_the_same_as_on_sqlite(
    influx_storage: InfluxStorage, sqlite_storage: SqliteStorage
) -> None:
    """The API answers a 14-day chart at one point a minute, raw or in 1-minute means, on either storage."""
    per_minute = replace(QUERY, every=MINUTE, agg=Aggregate.MEAN)
    answers = []
    for storage in (influx_storage, sqlite_storage):
        await storage.write(BIG + SMALL)
        answers.append([await storage.query(QUERY), await storage.query(per_minute)])
    on_influx, on_sqlite = answers
    assert on_influx == on_sqlite
    raw, means = on_influx
    assert [len(series.rows) for series in raw] == [ROWS, len(SMALL)]
    assert len(means[0].rows) >= ROWS
