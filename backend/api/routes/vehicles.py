"""Vehicles (WIM records, weighbridge weighings) with their ODOL verdicts, and statistics per hour/day.

Verdict fields (`verdict`, `overloaded`, `over_dimension`, `excess_kg`, `esal`, ...) are written with the
vehicle by the rules engine; a record stored without them is listed with nulls and counted as not judged.
Road wear is ESAL (fourth-power law against an 8.16 t axle), taken from the record or computed from its
axle loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, Field

from backend.api.context import ApiContext
from backend.api.csv import csv_response
from backend.api.models import AxleOut, VehicleBucket, VehicleOut, VehiclePage, VehicleStats
from backend.api.params import (
    AXLE_CONFIGURATION_PATTERN,
    LABEL_PATTERN,
    OutputFormat,
    QueryModel,
    Slug,
    Time,
    TimeZone,
    next_link,
    rfc3339,
    time_range,
    wants_csv,
)
from backend.api.problems import Problem
from backend.api.road_wear import axle_loads, esal_of
from backend.api.routes.responses import CSV_OK
from backend.api.rows import cut_merged
from backend.api.vehicle_stats import (
    TALLY_FIELDS,
    Tally,
    bucket_start,
    plan,
    rollup_watermark,
    tally_buckets,
)
from backend.config.api import Role
from backend.storage.model import ALL_TAGS, FieldValue, Row, SeriesQuery, TagMatch
from backend.storage.read_model import VEHICLE_FIELDS, StoredVehicle, as_float, read_vehicle
from backend.storage.schema import VEHICLE
from pantau.contract.vehicle_class import normalise_class_code

DEFAULT_SPAN: Final = timedelta(hours=24)
#: A CSV row is the answer's vehicle with its axles as one column of loads.
_CSV_COLUMNS: Final = tuple("axle_loads_kg" if name == "axles" else name for name in VehicleOut.model_fields)
_STATS_CSV: Final = tuple(VehicleBucket.model_fields)
#: What the answer says differently from the stored record; every other field is the record's own.
_DERIVED: Final = frozenset({"time", "axle_configuration", "configuration_inferred", "axles", "esal"})
_AS_STORED: Final = tuple(name for name in VehicleOut.model_fields if name not in _DERIVED)


AxleConfiguration = Annotated[str, Field(pattern=AXLE_CONFIGURATION_PATTERN, max_length=64)]


class VehicleFilters(QueryModel):
    site: list[Slug] = Field(default_factory=list)
    device: list[Slug] = Field(default_factory=list)
    lane: list[Annotated[int, Field(ge=1, le=16)]] = Field(default_factory=list)
    direction: Slug | None = None
    #: Normalised as the gateway publishes classes: `?vehicle_class=08` finds class "8".
    vehicle_class: list[
        Annotated[str, Field(pattern=LABEL_PATTERN), AfterValidator(normalise_class_code)]
    ] = Field(default_factory=list)
    axle_configuration: list[Annotated[str, Field(pattern=AXLE_CONFIGURATION_PATTERN, max_length=64)]] = (
        Field(default_factory=list)
    )
    verdict: list[Literal["ok", "tolerated", "violation", "unknown"]] = Field(default_factory=list)
    overloaded: bool | None = None
    over_dimension: bool | None = None
    min_excess_kg: float | None = Field(default=None, ge=-300_000, le=300_000, allow_inf_nan=False)
    min_excess_pct: float | None = Field(default=None, ge=-100, le=10_000, allow_inf_nan=False)
    start: Time | None = None
    end: Time | None = None
    format: OutputFormat | None = None


class VehicleParams(VehicleFilters):
    limit: int | None = Field(default=None, ge=1, description="Vehicles per page")


class StatsParams(VehicleFilters):
    every: Literal["1h", "1d"] = "1h"
    tz: TimeZone = "UTC"


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["vehicles"], dependencies=[Depends(ctx.keys.dependency("vehicles", Role.READ))])
    caps = ctx.settings.caps

    @api.get("/vehicles", response_model=VehiclePage, responses=CSV_OK, summary="Vehicles, filtered")
    async def vehicles(request: Request, params: Annotated[VehicleParams, Query()]) -> VehiclePage | Response:
        start, end = time_range(
            params.start, params.end, default=DEFAULT_SPAN, longest=caps.max_span, now=ctx.clock()
        )
        limit = params.limit or caps.default_rows
        if limit > caps.max_rows:
            raise Problem(400, f"limit may be at most {caps.max_rows}")
        query = SeriesQuery(
            VEHICLE,
            VEHICLE_FIELDS,
            start,
            end,
            tags=_tags(params),
            field_filters=_field_filters(params),
            group_by=ALL_TAGS,
            limit=limit + 1,
        )
        found = [(row, dict(s.tags)) for s in await ctx.storage.query(query) for row in s.rows]
        page, cut = cut_merged(found, limit)
        items = [_vehicle(read_vehicle(row, tags)) for row, tags in page if _passes(row.values, params)]
        next_url = next_link(request, start=rfc3339(cut)) if cut is not None else None
        if wants_csv(request, params.format):
            return csv_response(_CSV_COLUMNS, (_flat(v) for v in items), next_url)
        return VehiclePage(start=rfc3339(start), end=rfc3339(end), vehicles=items, next=next_url)

    @api.get(
        "/vehicles/stats",
        response_model=VehicleStats,
        responses=CSV_OK,
        summary="Vehicle statistics per hour/day",
    )
    async def stats(request: Request, params: Annotated[StatsParams, Query()]) -> VehicleStats | Response:
        start, end = time_range(
            params.start, params.end, default=DEFAULT_SPAN, longest=caps.max_span, now=ctx.clock()
        )
        zone = ZoneInfo(params.tz)
        tags = _tags(params)
        # Field filters and thresholds are not in the rollup's tags: those statistics tally vehicles.
        tag_only = (
            not _field_filters(params) and params.min_excess_kg is None and params.min_excess_pct is None
        )
        watermark = await rollup_watermark(ctx.storage, ctx.clock()) if tag_only else None
        split = plan(start, end, watermark)
        rows: list[Row] = []
        for raw_start, raw_end in split.raw:
            query = SeriesQuery(
                VEHICLE,
                TALLY_FIELDS + (("excess_pct",) if params.min_excess_pct is not None else ()),
                raw_start,
                raw_end,
                tags=tags,
                field_filters=_field_filters(params),
                limit=caps.max_vehicles_scanned + 1 - len(rows),
            )
            rows.extend(row for s in await ctx.storage.query(query) for row in s.rows)
            if len(rows) > caps.max_vehicles_scanned:
                raise Problem(
                    400, f"more than {caps.max_vehicles_scanned} vehicles: narrow the range or filters"
                )
        passed = (row for row in rows if _passes(row.values, params))
        tallies = await tally_buckets(
            ctx.storage, split.rolled, passed, tags=tags, every=params.every, zone=zone
        )
        buckets = [_bucket(at, tally) for at, tally in sorted(tallies.items())]
        if wants_csv(request, params.format):
            return csv_response(_STATS_CSV, (b.model_dump() for b in buckets))
        return VehicleStats(
            start=rfc3339(start), end=rfc3339(end), every=params.every, tz=params.tz, buckets=buckets
        )

    return api


def bucketize(rows: list[Row], every: Literal["1h", "1d"], zone: ZoneInfo) -> list[VehicleBucket]:
    """Counts, overload share, excess tonnage and ESAL per local hour or day, vehicle by vehicle (pure)."""
    tallies: dict[datetime, Tally] = {}
    for row in rows:
        tallies.setdefault(bucket_start(row.time, every, zone), Tally()).add_vehicle(row.values)
    return [_bucket(at, tally) for at, tally in sorted(tallies.items())]


def _bucket(at: datetime, t: Tally) -> VehicleBucket:
    return VehicleBucket(
        time=rfc3339(at),
        vehicles=t.vehicles,
        judged=t.judged,
        overloaded=t.overloaded,
        overload_share=round(t.overloaded / t.judged, 6) if t.judged else None,
        over_dimension=t.over_dimension,
        excess_t=round(t.excess_kg / 1000, 3),
        gvw_t=round(t.gvw_kg / 1000, 3),
        esal=round(t.esal, 6),
    )


def _tags(params: VehicleFilters) -> dict[str, TagMatch]:
    tags: dict[str, TagMatch] = {}
    for key, values in (
        ("site", params.site),
        ("device", params.device),
        ("lane", [str(lane) for lane in params.lane]),
        ("vehicle_class", params.vehicle_class),
    ):
        if values:
            tags[key] = tuple(dict.fromkeys(values))
    if params.direction is not None:
        tags["direction"] = params.direction
    return tags


def _field_filters(params: VehicleFilters) -> dict[str, FieldValue | tuple[FieldValue, ...]]:
    filters: dict[str, FieldValue | tuple[FieldValue, ...]] = {}
    if params.verdict:
        filters["verdict"] = tuple(dict.fromkeys(params.verdict))
    if params.axle_configuration:
        # The configuration the rules judged by: reported, or inferred from the axle groups (most WIM
        # scales report no tyres), which the `axle_configuration` tag cannot hold.
        filters["jbi_configuration"] = tuple(dict.fromkeys(params.axle_configuration))
    if params.overloaded is not None:
        filters["overloaded"] = params.overloaded
    if params.over_dimension is not None:
        filters["over_dimension"] = params.over_dimension
    return filters


def _passes(values: Mapping[str, FieldValue | None], params: VehicleFilters) -> bool:
    """Thresholds storage cannot filter (it filters on equality only)."""
    for name, minimum in (("excess_kg", params.min_excess_kg), ("excess_pct", params.min_excess_pct)):
        if minimum is not None:
            value = as_float(values.get(name))
            if value is None or value < minimum:
                return False
    return True


def _vehicle(stored: StoredVehicle) -> VehicleOut:
    configuration = stored.axle_configuration or stored.jbi_configuration
    return VehicleOut(
        time=rfc3339(stored.time),
        axle_configuration=configuration,
        configuration_inferred=None if configuration is None else bool(stored.configuration_inferred),
        axles=[AxleOut.model_validate(axle) for axle in axle_loads(stored.axles)],
        esal=esal_of(stored.esal, stored.axles),
        **{name: getattr(stored, name) for name in _AS_STORED},
    )


def _flat(vehicle: VehicleOut) -> dict[str, object]:
    row: dict[str, object] = vehicle.model_dump(exclude={"axles"})
    row["axle_loads_kg"] = " ".join(f"{axle.load_kg:g}" for axle in vehicle.axles)
    return row
