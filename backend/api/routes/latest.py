"""The latest value of every channel, with its quality and the current alert level (the flood map's call).

"Latest" is the newest reading whose time can be believed: none later than now plus the allowed clock skew,
and none marked `clock_skew` (a reading a wrong clock dated years ahead is not the river's level now).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import Field

from backend.api.context import ApiContext
from backend.api.csv import csv_response
from backend.api.models import AlertLevel, Latest, LatestList
from backend.api.params import OutputFormat, QueryModel, Slug, rfc3339, wants_csv
from backend.api.routes.responses import CSV_OK
from backend.api.rows import reading_value
from backend.config.api import Role
from backend.storage.model import SeriesQuery, TagMatch
from backend.storage.read_model import as_str
from backend.storage.schema import READING
from pantau.contract import AlertTransition, Quality

_FIELDS = ("value", "value_int", "text", "unit", "quality", "reason")
_TIMED = tuple(quality.value for quality in Quality if quality is not Quality.CLOCK_SKEW)
_CSV_COLUMNS = ("site", "device", "channel", "time", "value", "text", "unit", "quantity", "quality", "reason",
                "alert_level", "alert_severity")  # fmt: skip


class LatestQuery(QueryModel):
    site: list[Slug] = Field(default_factory=list)
    device: list[Slug] = Field(default_factory=list)
    channel: list[Slug] = Field(default_factory=list)
    quantity: Slug | None = None
    format: OutputFormat | None = None


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["latest"], dependencies=[Depends(ctx.keys.dependency("latest", Role.READ))])

    @api.get("/latest", response_model=LatestList, responses=CSV_OK, summary="Latest value per channel")
    async def latest(request: Request, params: Annotated[LatestQuery, Query()]) -> LatestList | Response:
        tags: dict[str, TagMatch] = {}
        for key, values in (("site", params.site), ("device", params.device), ("channel", params.channel)):
            if values:
                tags[key] = tuple(values)
        now = ctx.clock()
        query = SeriesQuery(
            READING,
            _FIELDS,
            now - ctx.settings.caps.latest_lookback,
            now + ctx.clock_skew,
            tags=tags,
            field_filters={"quality": _TIMED},
            group_by=("site", "device", "channel"),
            limit=1,
            descending=True,
        )
        alerts = _alerts_by_channel(ctx.alerts.active() if ctx.alerts is not None else [])
        found = []
        for series in await ctx.storage.query(query):
            site, device, channel = series.tags["site"], series.tags["device"], series.tags["channel"]
            quantity = ctx.inventory.quantity_of(site, device, channel)
            if params.quantity is not None and quantity != params.quantity:
                continue
            row = series.rows[0]
            cells = row.values
            found.append(
                Latest(
                    site=site,
                    device=device,
                    channel=channel,
                    time=rfc3339(row.time),
                    value=reading_value(cells),
                    text=as_str(cells.get("text")),
                    unit=as_str(cells.get("unit")),
                    quantity=quantity,
                    quality=as_str(cells.get("quality")),
                    reason=as_str(cells.get("reason")),
                    alert=alerts.get((site, device, channel)),
                )
            )
        if wants_csv(request, params.format):
            return csv_response(_CSV_COLUMNS, (_flat(item) for item in found))
        return LatestList(latest=found)

    return api


def _alerts_by_channel(active: list[AlertTransition]) -> dict[tuple[str, str, str], AlertLevel]:
    """The most severe active alert of each channel."""
    worst: dict[tuple[str, str, str], AlertTransition] = {}
    for alert in active:
        if alert.device is None or alert.channel is None:
            continue
        key = (alert.site, alert.device, alert.channel)
        if key not in worst or alert.severity > worst[key].severity:
            worst[key] = alert
    return {
        key: AlertLevel(rule=a.rule, alert_id=a.alert_id, state=a.state, level=a.level, severity=a.severity)
        for key, a in worst.items()
    }


def _flat(item: Latest) -> dict[str, object]:
    row: dict[str, object] = item.model_dump(exclude={"alert"})
    if item.alert is not None:
        row["alert_level"] = item.alert.level
        row["alert_severity"] = item.alert.severity
    return row
