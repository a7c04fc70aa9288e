"""Query parameters every resource shares: ids, RFC 3339 times, ranges, paging, output format.

Validation happens here, before anything reaches storage: ids match the contract's slug pattern, times
are RFC 3339 with a zone (UTC or an offset) inside 2000..2100, ranges are capped. Storage quotes what it
receives anyway (InfluxQL quoting, SQL parameters): this is the first of two walls, not the only one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal
from urllib.parse import urlencode

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backend.api.problems import Problem
from pantau.contract.fields import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, RFC3339_PATTERN, SLUG_PATTERN

#: Zones accepted for bucket boundaries: UTC and Indonesia's three (Balikpapan is WITA, Asia/Makassar).
TimeZone = Literal["UTC", "Asia/Makassar", "Asia/Jakarta", "Asia/Jayapura"]
Every = Literal["1m", "1h", "1d"]
EVERY: Final = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
OutputFormat = Literal["json", "csv"]
#: Free-text labels stored as tags or fields (vehicle classes, alert level names): printable, bounded.
LABEL_PATTERN: Final = r"^[^\x00-\x1f\x7f]{1,64}$"
AXLE_CONFIGURATION_PATTERN: Final = r"^[12](\.[12]){0,7}(-[12](\.[12]){0,7}){0,9}$"


def _rfc3339(value: str) -> str:
    moment = parse_time(value)
    if not EARLIEST_TIMESTAMP <= moment < LATEST_TIMESTAMP:
        raise ValueError("times must lie between 2000-01-01 and 2100-01-01")
    return value


def parse_time(value: str) -> datetime:
    """An RFC 3339 time as aware UTC; digits past microseconds are cut (storage keeps µs)."""
    try:
        moment = datetime.fromisoformat(value.upper())
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not an RFC 3339 time like 2026-11-28T06:00:00Z") from exc
    if utc is None:
        raise ValueError("a time needs its zone: 'Z' or an offset like +08:00")
    return utc


Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=63)]
Time = Annotated[
    str,
    Field(
        pattern=RFC3339_PATTERN, max_length=40, description="RFC 3339 with zone, e.g. 2026-11-28T06:00:00Z"
    ),
    AfterValidator(_rfc3339),
]


class QueryModel(BaseModel):
    """Base of query-parameter models: unknown parameters are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def time_range(
    start: str | None, end: str | None, *, default: timedelta, longest: timedelta, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end) from the parameters: `end` defaults to now, `start` to `end - default`."""
    until = parse_time(end) if end is not None else now
    since = parse_time(start) if start is not None else until - default
    if since >= until:
        raise Problem(400, "start must be before end")
    if until - since > longest:
        raise Problem(400, f"the time range may span at most {_human(longest)}; page through longer ones")
    return since, until


def next_link(request: Request, **replace: str) -> str:
    """This request's URL with some parameters replaced (the `next` page)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in replace]
    items.extend(replace.items())
    return f"{request.url.path}?{urlencode(items)}"


def rfc3339(moment: datetime) -> str:
    """Times in responses: UTC, `Z`, microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def wants_csv(request: Request, fmt: OutputFormat | None) -> bool:
    """`format=csv`, or an Accept header asking for text/csv (and not preferring JSON)."""
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def _human(span: timedelta) -> str:
    if span % timedelta(days=1) == timedelta(0):
        return f"{span.days} days"
    return f"{span.total_seconds() / 3600:g} hours"
