"""Citizen flood reports: residents post where they are, how deep the water is, a note and a photo link;
the city reads them next to the nearest gauges' water level at the time.

Stored as measurement `citizen_report` with one tag, `source` (the API instance that took it: a handful of
values), never a report id. Two reports at the same instant must not overwrite each other (same series +
time = same point), so each instance hands out strictly increasing nanosecond times; the report id is
`{source}-{time_ns}`, unique across instances.
"""

# No `from __future__ import annotations`: FastAPI resolves `Annotated[Caller, Depends(local)]` at runtime.

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from backend.api.auth import Caller
from backend.api.context import ApiContext
from backend.api.csv import csv_response
from backend.api.models import NearbyGauge, ReportIn, ReportList, ReportOut
from backend.api.params import (
    OutputFormat,
    QueryModel,
    Time,
    next_link,
    parse_time,
    rfc3339,
    time_range,
    wants_csv,
)
from backend.api.problems import Problem
from backend.api.routes.responses import CSV_OK
from backend.api.rows import cut_merged
from backend.config.api import Role
from backend.storage.model import ALL_TAGS, FieldValue, Point, Row, SeriesQuery
from backend.storage.read_model import as_float, as_str
from backend.storage.schema import CITIZEN_REPORT, READING, time_ns

EARTH_RADIUS_KM: Final = 6371.0088
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_SPAN: Final = timedelta(days=1)
#: How far back a gauge's reading may be to count as "the level at the time" of a report.
GAUGE_WINDOW: Final = timedelta(hours=1)
#: A phone's clock may run a little ahead.
CLOCK_SKEW: Final = timedelta(minutes=5)
#: Reports get strictly increasing times, a little ahead of the clock under load: "up to now" includes them.
AHEAD: Final = timedelta(seconds=1)
_FIELDS: Final = ("lat", "lon", "depth_cm", "note", "photo_url", "observed_at", "reporter")
_CSV_COLUMNS: Final = ("id", "received_at", "observed_at", "lat", "lon", "depth_cm", "note", "photo_url",
                       "reporter", "nearby")  # fmt: skip


class ReportParams(QueryModel):
    start: Time | None = None
    end: Time | None = None
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    radius_km: float | None = Field(default=None, gt=0, le=500, allow_inf_nan=False)
    gauge_radius_km: float | None = Field(default=None, gt=0, le=50, allow_inf_nan=False)
    limit: int | None = Field(default=None, ge=1, le=1000)
    format: OutputFormat | None = None


class ReportClock:
    """Strictly increasing times for this instance's reports, whole microseconds apart (what storage returns),
    so no two reports share a point even when the wall clock repeats or steps back."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = asyncio.Lock()

    async def next(self, now: datetime) -> int:
        async with self._lock:
            self._last = max(time_ns(now) // 1000 * 1000, self._last + 1000)
            return self._last


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["reports"])
    submit = ctx.keys.dependency("reports", Role.REPORT)
    read = Depends(ctx.keys.dependency("reports", Role.READ))
    settings = ctx.settings.reports
    clock = ReportClock()

    @api.post("/reports", response_model=ReportOut, status_code=201)
    async def post_report(body: ReportIn, caller: Annotated[Caller, Depends(submit)]) -> ReportOut:
        """Submit a resident's flood report (validated; stored for good)."""
        now = ctx.clock()
        observed = parse_observed(body.observed_at, now, settings.max_age)
        at = await clock.next(now)
        fields: dict[str, FieldValue] = {
            "lat": float(body.lat),
            "lon": float(body.lon),
            "depth_cm": float(body.depth_cm),
            "observed_at": rfc3339(observed),
            "reporter": caller.name,
        }
        if body.note is not None:
            fields["note"] = body.note
        if body.photo_url is not None:
            fields["photo_url"] = body.photo_url
        await ctx.storage.write([Point(CITIZEN_REPORT, {"source": ctx.instance}, fields, at)])
        row = Row(_EPOCH + timedelta(microseconds=at // 1000), fields)
        return await _report(ctx, row, ctx.instance, at, settings.nearby_radius_km)

    @api.get("/reports", response_model=ReportList, responses=CSV_OK, dependencies=[read])
    async def reports(request: Request, params: Annotated[ReportParams, Query()]) -> ReportList | Response:
        """Reports received in the time range, optionally within `radius_km` of `lat`/`lon`."""
        around = (params.lat, params.lon, params.radius_km)
        if any(v is not None for v in around) and any(v is None for v in around):
            raise Problem(400, "lat, lon and radius_km go together")
        if params.radius_km is not None and params.radius_km > settings.max_radius_km:
            raise Problem(400, f"radius_km may be at most {settings.max_radius_km:g}")
        start, end = time_range(
            params.start,
            params.end,
            default=DEFAULT_SPAN,
            longest=ctx.settings.caps.max_span,
            now=ctx.clock() + AHEAD,
        )
        limit = params.limit or 100
        query = SeriesQuery(CITIZEN_REPORT, _FIELDS, start, end, group_by=ALL_TAGS, limit=limit + 1)
        found = [(row, dict(s.tags)) for s in await ctx.storage.query(query) for row in s.rows]
        page, cut = cut_merged(found, limit)
        radius = params.gauge_radius_km or settings.nearby_radius_km
        out = []
        for row, tags in page:
            lat, lon = as_float(row.values.get("lat")), as_float(row.values.get("lon"))
            if lat is None or lon is None:
                continue
            if _outside(params, lat, lon):
                continue
            out.append(await _report(ctx, row, tags.get("source", ""), time_ns(row.time), radius))
        next_url = next_link(request, start=rfc3339(cut)) if cut is not None else None
        if wants_csv(request, params.format):
            rows = (
                r.model_dump(exclude={"nearby"})
                | {"nearby": " ".join(f"{g.site}:{g.value if g.value is not None else ''}" for g in r.nearby)}
                for r in out
            )
            return csv_response(_CSV_COLUMNS, rows, next_url)
        return ReportList(reports=out, next=next_url)

    return api


def _outside(params: ReportParams, lat: float, lon: float) -> bool:
    if params.lat is None or params.lon is None or params.radius_km is None:
        return False
    return distance_km(params.lat, params.lon, lat, lon) > params.radius_km


def parse_observed(text: str | None, now: datetime, max_age: timedelta) -> datetime:
    if text is None:
        return now
    try:
        observed = parse_time(text)
    except ValueError as exc:
        raise Problem(422, str(exc)) from exc
    if observed > now + CLOCK_SKEW:
        raise Problem(422, "observed_at lies in the future")
    if observed < now - max_age:
        raise Problem(422, f"observed_at is older than {max_age.days} days")
    return observed


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


async def _report(ctx: ApiContext, row: Row, source: str, at_ns: int, radius_km: float) -> ReportOut:
    v = row.values
    lat, lon = as_float(v.get("lat")) or 0.0, as_float(v.get("lon")) or 0.0
    observed_text = as_str(v.get("observed_at"))
    observed = parse_time(observed_text) if observed_text else row.time
    return ReportOut(
        id=f"{source}-{at_ns}",
        received_at=rfc3339(row.time),
        observed_at=rfc3339(observed),
        lat=lat,
        lon=lon,
        depth_cm=as_float(v.get("depth_cm")) or 0.0,
        note=as_str(v.get("note")),
        photo_url=as_str(v.get("photo_url")),
        reporter=as_str(v.get("reporter")) or "",
        nearby=await nearby_gauges(ctx, lat, lon, observed, radius_km),
    )


async def nearby_gauges(
    ctx: ApiContext, lat: float, lon: float, at: datetime, radius_km: float
) -> list[NearbyGauge]:
    """Sites with a water-level channel within `radius_km`, nearest first, with their level at `at`."""
    found = []
    for site in ctx.inventory.sites():
        distance = distance_km(lat, lon, site.lat, site.lon)
        levels = {c.id for d in site.devices for c in d.channels if c.quantity == "water_level"}
        if distance > radius_km or not levels:
            continue
        query = SeriesQuery(
            READING,
            ("value", "unit", "quality"),
            at - GAUGE_WINDOW,
            at + timedelta(microseconds=1),
            tags={"site": site.id, "channel": tuple(sorted(levels))},
            field_filters={"quality": ("good", "suspect")},
            group_by=("device", "channel"),
            limit=1,
            descending=True,
        )
        latest = [(s.rows[0], s.tags) for s in await ctx.storage.query(query) if s.rows]
        latest.sort(key=lambda item: item[0].time, reverse=True)
        row, tags = latest[0] if latest else (None, {})
        found.append(
            NearbyGauge(
                site=site.id,
                name=site.name,
                distance_km=round(distance, 3),
                device=tags.get("device"),
                channel=tags.get("channel"),
                time=rfc3339(row.time) if row else None,
                value=as_float(row.values.get("value")) if row else None,
                unit=as_str(row.values.get("unit")) if row else None,
                quality=as_str(row.values.get("quality")) if row else None,
            )
        )
    return sorted(found, key=lambda g: g.distance_km)
