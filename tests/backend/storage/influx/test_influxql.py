"""InfluxQL building, table-driven: quoting, literals, clauses (run against influxd in test_query.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.storage.influx import influxql
from backend.storage.model import ALL_TAGS, Aggregate, FieldValue, SeriesQuery

T0 = datetime(2025, 11, 28, 6, 0, tzinfo=UTC)
T0_NS = 1_764_309_600_000_000_000


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("site", '"site"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb", '"a\\nb"'),
        ("x'y", '"x\'y"'),
        ('"; DROP DATABASE "x', '"\\"; DROP DATABASE \\"x"'),
    ],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert influxql.quote_ident(name) == quoted


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("ampal", "'ampal'"),
        ("x' OR 1=1", "'x\\' OR 1=1'"),
        ("a\\", "'a\\\\'"),
        ("a\nb", "'a\\nb'"),
        ('a"b', "'a\"b'"),
        ("", "''"),
    ],
)
def test_quote_string(value: str, quoted: str) -> None:
    assert influxql.quote_string(value) == quoted


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (3, "3"),
        (-7, "-7"),
        (2.5, "2.5"),
        (5.0, "5.0"),
        (1e20, "100000000000000000000.0"),
        (1.5e-7, "0.00000015"),
        (-0.1, "-0.1"),
        ("good", "'good'"),
    ],
)
def test_literal(value: FieldValue, text: str) -> None:
    assert influxql.literal(value) == text


def test_float_literals_parse_back_exactly() -> None:
    for value in (0.1, 1 / 3, 1e-300, 1.7976931348623157e308):
        assert float(influxql.literal(value)) == value


def test_non_finite_literal_rejected() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        influxql.literal(float("nan"))


@pytest.mark.parametrize(
    ("every", "text"),
    [
        (timedelta(days=1), "1d"),
        (timedelta(weeks=2), "2w"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=15), "15m"),
        (timedelta(seconds=90), "90s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(microseconds=1500), "1500u"),
    ],
)
def test_duration_literal(every: timedelta, text: str) -> None:
    assert influxql.duration_literal(every) == text


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=-1)])
def test_duration_must_be_positive(every: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        influxql.duration_literal(every)


def test_times_clamped_to_influx_range() -> None:
    assert influxql.time_literal(T0) == str(T0_NS)
    assert influxql.time_literal(datetime.min.replace(tzinfo=UTC)) == "-9223372036854775806"
    assert influxql.time_literal(datetime.max.replace(tzinfo=UTC)) == "9223372036854775806"


def query(**changes: object) -> SeriesQuery:
    base: dict[str, object] = {
        "measurement": "reading",
        "fields": ("value",),
        "start": T0,
        "end": T0 + timedelta(hours=1),
    }
    return SeriesQuery(**(base | changes))  # type: ignore[arg-type]


WHERE = f"WHERE time >= {T0_NS} AND time < {T0_NS + 3_600_000_000_000}"
FROM = 'FROM "db"."rp"."reading"'
SELECTS = [
    ("raw", query(), f'SELECT "value"::field {FROM} {WHERE}'),
    (
        "raw, all tags, several fields",
        query(fields=("value", "quality"), group_by=ALL_TAGS),
        f'SELECT "value"::field, "quality"::field {FROM} {WHERE} GROUP BY *',
    ),
    (
        "aggregated by day in a zone",
        query(every=timedelta(days=1), agg=Aggregate.MEAN, tz="Asia/Makassar", group_by=("site",)),
        (
            f'SELECT mean("value") AS "value" {FROM} {WHERE} GROUP BY time(1d), "site" fill(none) '
            "tz('Asia/Makassar')"
        ),
    ),
    (
        "tags and field filters",
        query(tags={"site": ("a", "b"), "device": "d"}, field_filters={"quality": "good", "qc_flag": 1}),
        (
            f'SELECT "value"::field {FROM} {WHERE} AND "device"::tag = \'d\' '
            'AND ("site"::tag = \'a\' OR "site"::tag = \'b\') AND "qc_flag"::field = 1 '
            "AND \"quality\"::field = 'good'"
        ),
    ),
    (
        "paging, descending",
        query(limit=3, offset=2, series_limit=4, descending=True, group_by=("site",)),
        f'SELECT "value"::field {FROM} {WHERE} GROUP BY "site" ORDER BY time DESC LIMIT 3 OFFSET 2',
    ),
    (
        "hostile names stay quoted",
        query(measurement='r"; DROP', fields=('v"',), tags={"s'": "x' OR 1=1"}),
        f'SELECT "v\\""::field FROM "db"."rp"."r\\"; DROP" {WHERE} AND "s\'"::tag = \'x\\\' OR 1=1\'',  # noqa: S608 - expected text
    ),
]


@pytest.mark.parametrize(("q", "statement"), [c[1:] for c in SELECTS], ids=[c[0] for c in SELECTS])
def test_select(q: SeriesQuery, statement: str) -> None:
    assert influxql.select(q, "db", "rp") == statement


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (query(tz="Mars/Olympus"), "unknown time zone"),
        (query(tz="Asia/Makassar') DROP"), "IANA"),
        (query(tz="../../etc/passwd"), "IANA"),
        (query(limit=-1), "limit"),
        (query(offset=-1), "offset"),
        (query(tags={"site": ()}), "no values"),
        (query(field_filters={"value": float("inf")}), "non-finite"),
    ],
)
def test_select_rejects(q: SeriesQuery, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        influxql.select(q, "db", "rp")


def test_show_tag_values() -> None:
    statement = influxql.show_tag_values("db", "rp", "reading", "device", {"site": "s1"})
    assert statement == (
        'SHOW TAG VALUES ON "db" FROM "rp"."reading" WITH KEY = "device" WHERE "site"::tag = \'s1\''
    )
    assert (
        influxql.show_tag_values("db", "rp", "m", "k", {})
        == 'SHOW TAG VALUES ON "db" FROM "rp"."m" WITH KEY = "k"'
    )


@pytest.mark.parametrize("quote", [influxql.quote_ident, influxql.quote_string])
def test_nul_cannot_be_quoted(quote: object) -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote("a\x00b")  # type: ignore[operator]
