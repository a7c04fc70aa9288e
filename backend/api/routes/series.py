"""Time series of channels: raw rows (paged) or aggregated buckets (bounded), JSON or CSV."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from backend.api.context import ApiContext
from backend.api.csv import csv_response
from backend.api.models import SeriesData, SeriesPage, SeriesRow
from backend.api.params import (
    EVERY,
    Every,
    OutputFormat,
    QueryModel,
    Time,
    TimeZone,
    next_link,
    rfc3339,
    time_range,
    wants_csv,
)
from backend.api.problems import Problem
from backend.api.routes.responses import CSV_OK
from backend.api.rows import cut_series, reading_value
from backend.config.api import Role
from backend.storage.model import Aggregate, Series, SeriesQuery
from backend.storage.read_model import as_str
from backend.storage.schema import READING

SERIES_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_SPAN: Final = timedelta(hours=24)
_CSV_COLUMNS: Final = ("site", "device", "channel", "time", "value", "quality")
#: Aggregates read good and suspect values only: bad data never makes a mean.
_USABLE: Final = ("good", "suspect")


class SeriesParams(QueryModel):
    series: list[Annotated[str, Field(pattern=SERIES_PATTERN, max_length=191)]] = Field(
        min_length=1, description="`site/device/channel`, repeated for several series"
    )
    start: Time | None = None
    end: Time | None = None
    every: Every | None = None
    agg: Literal["mean", "min", "max", "last", "sum", "count"] | None = None
    tz: TimeZone = "UTC"
    limit: int | None = Field(default=None, ge=1, description="Raw rows per series and page")
    format: OutputFormat | None = None


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["series"], dependencies=[Depends(ctx.keys.dependency("series", Role.READ))])
    caps = ctx.settings.caps

    @api.get("/series", response_model=SeriesPage, responses=CSV_OK, summary="Raw or aggregated series")
    async def series(request: Request, params: Annotated[SeriesParams, Query()]) -> SeriesPage | Response:
        wanted = list(dict.fromkeys(params.series))
        if len(wanted) > caps.max_series:
            raise Problem(400, f"at most {caps.max_series} series per request")
        if params.every is None and params.agg is not None:
            raise Problem(400, "agg needs every (1m, 1h or 1d)")
        aggregated = params.every is not None
        start, end = time_range(
            params.start,
            params.end,
            default=DEFAULT_SPAN,
            longest=caps.max_span if aggregated else caps.max_raw_span,
            now=ctx.clock(),
        )
        limit = params.limit or caps.default_rows
        if limit > caps.max_rows:
            raise Problem(400, f"limit may be at most {caps.max_rows}")
        results: list[Series] = []
        if params.every is not None:
            every = EVERY[params.every]
            buckets = math.ceil((end - start) / every) * len(wanted)
            if buckets > caps.max_points:
                raise Problem(
                    400,
                    f"{buckets} buckets exceed {caps.max_points}: use a coarser `every` or a shorter range",
                )
            agg = Aggregate(params.agg or "mean")
            for name in wanted:
                query = SeriesQuery(
                    READING,
                    ("value",),
                    start,
                    end,
                    tags=_tags(name),
                    field_filters={"quality": _USABLE},
                    every=every,
                    agg=agg,
                    tz=None if params.tz == "UTC" else params.tz,
                )
                results.append(_one(await ctx.storage.query(query)))
            cut = None
        else:
            for name in wanted:
                query = SeriesQuery(
                    READING, ("value", "value_int", "quality"), start, end, tags=_tags(name), limit=limit + 1
                )
                results.append(_one(await ctx.storage.query(query)))
            results, cut = cut_series(results, limit)
        next_url = next_link(request, start=rfc3339(cut)) if cut is not None else None
        data = []
        for name, found in zip(wanted, results, strict=True):
            site, device, channel = name.split("/")
            unit = _unit(ctx, site, device, channel)
            rows = [
                SeriesRow(
                    time=rfc3339(row.time),
                    value=reading_value(row.values),
                    quality=as_str(row.values.get("quality")),
                )
                for row in found.rows
            ]
            data.append(SeriesData(site=site, device=device, channel=channel, unit=unit, rows=rows))
        if wants_csv(request, params.format):
            return csv_response(
                _CSV_COLUMNS,
                (
                    {"site": d.site, "device": d.device, "channel": d.channel} | row.model_dump()
                    for d in data
                    for row in d.rows
                ),
                next_url,
            )
        return SeriesPage(
            start=rfc3339(start),
            end=rfc3339(end),
            every=params.every,
            agg=(params.agg or "mean") if aggregated else None,
            tz=params.tz,
            series=data,
            next=next_url,
        )

    return api


def _tags(name: str) -> dict[str, str]:
    site, device, channel = name.split("/")
    return {"site": site, "device": device, "channel": channel}


def _one(found: list[Series]) -> Series:
    return found[0] if found else Series({}, [])


def _unit(ctx: ApiContext, site: str, device: str, channel: str) -> str | None:
    info = ctx.inventory.site(site)
    spec = info.device(device) if info else None
    return next((c.unit for c in spec.channels if c.id == channel), None) if spec else None
