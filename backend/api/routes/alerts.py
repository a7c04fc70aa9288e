"""Alerts: the active ones (from the rules engine's book), history (the `alert` measurement), acknowledge."""

# No `from __future__ import annotations`: FastAPI resolves `Annotated[Caller, Depends(local)]` at runtime.

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from backend.api.auth import Caller
from backend.api.context import ApiContext
from backend.api.csv import csv_response
from backend.api.models import AcknowledgeIn, AcknowledgementOut, AlertList, AlertOut
from backend.api.params import (
    LABEL_PATTERN,
    OutputFormat,
    QueryModel,
    Slug,
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
from backend.rules_service.alert_book import AlertBook, UnknownAlert
from backend.storage.model import ALL_TAGS, FieldValue, Row, SeriesQuery, TagMatch
from backend.storage.read_model import as_float, as_int, as_str
from backend.storage.schema import ALERT
from pantau.contract import AlertTransition

ALERT_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_:~-]{0,63}$"
DEFAULT_SPAN: Final = timedelta(days=7)
_FIELDS: Final = ("alert_id", "state", "severity", "message", "started_at", "level", "value", "threshold",
                  "unit", "acknowledged_by", "acknowledged_at", "acknowledgement_note",
                  "acknowledged_key")  # fmt: skip
_CSV_COLUMNS: Final = ("time", "alert_id", "site", "rule", "device", "channel", "state", "level", "severity",
                       "value", "threshold", "unit", "message", "started_at", "acknowledged_by",
                       "acknowledged_at", "acknowledgement_note", "acknowledged_key")  # fmt: skip


class AlertFilters(QueryModel):
    site: list[Slug] = Field(default_factory=list)
    rule: list[Slug] = Field(default_factory=list)
    device: list[Slug] = Field(default_factory=list)
    level: list[Annotated[str, Field(pattern=LABEL_PATTERN)]] = Field(default_factory=list)
    format: OutputFormat | None = None


class HistoryParams(AlertFilters):
    state: list[Literal["pending", "firing", "resolved"]] = Field(default_factory=list)
    start: Time | None = None
    end: Time | None = None
    limit: int | None = Field(default=None, ge=1)


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["alerts"])
    read = Depends(ctx.keys.dependency("alerts", Role.READ))
    operate = ctx.keys.dependency("alerts", Role.OPERATOR)
    caps = ctx.settings.caps

    @api.get("/alerts/active", response_model=AlertList, responses=CSV_OK, dependencies=[read])
    async def active(request: Request, params: Annotated[AlertFilters, Query()]) -> AlertList | Response:
        """Pending and firing alerts, most severe first."""
        alerts = [_from_transition(t) for t in _book(ctx).active() if _matches(t, params)]
        alerts.sort(key=lambda a: (-(a.severity or 0), a.alert_id))
        if wants_csv(request, params.format):
            return csv_response(_CSV_COLUMNS, (_flat(a) for a in alerts))
        return AlertList(alerts=alerts)

    @api.get("/alerts/history", response_model=AlertList, responses=CSV_OK, dependencies=[read])
    async def history(request: Request, params: Annotated[HistoryParams, Query()]) -> AlertList | Response:
        """Every transition (fired, level changed, acknowledged, resolved) in the time range, oldest first."""
        start, end = time_range(
            params.start, params.end, default=DEFAULT_SPAN, longest=caps.max_span, now=ctx.clock()
        )
        limit = params.limit or caps.default_rows
        if limit > caps.max_rows:
            raise Problem(400, f"limit may be at most {caps.max_rows}")
        tags: dict[str, TagMatch] = {
            key: tuple(values)
            for key, values in (("site", params.site), ("rule", params.rule), ("device", params.device))
            if values
        }
        filters: dict[str, FieldValue | tuple[FieldValue, ...]] = {}
        if params.level:
            filters["level"] = tuple(params.level)
        if params.state:
            filters["state"] = tuple(params.state)
        query = SeriesQuery(
            ALERT, _FIELDS, start, end, tags=tags, field_filters=filters, group_by=ALL_TAGS, limit=limit + 1
        )
        found = [(row, dict(s.tags)) for s in await ctx.storage.query(query) for row in s.rows]
        page, cut = cut_merged(found, limit)
        alerts = [_from_row(row, tags) for row, tags in page]
        next_url = next_link(request, start=rfc3339(cut)) if cut is not None else None
        if wants_csv(request, params.format):
            return csv_response(_CSV_COLUMNS, (_flat(a) for a in alerts), next_url)
        return AlertList(alerts=alerts, next=next_url)

    @api.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
    async def acknowledge(
        alert_id: Annotated[str, Path(pattern=ALERT_ID_PATTERN, max_length=64)],
        body: AcknowledgeIn,
        caller: Annotated[Caller, Depends(operate)],
    ) -> AlertOut:
        """An operator takes ownership of an active alert (who: `by` or the key's name; when: now). The key's
        name is kept beside `by` either way: the audit trail shows who was authenticated and who acted."""
        try:
            transition = await _book(ctx).acknowledge(
                alert_id, body.by or caller.name, body.note, key=caller.name
            )
        except UnknownAlert as exc:
            raise Problem(404, f"no active alert '{alert_id}'") from exc
        return _from_transition(transition)

    return api


def _book(ctx: ApiContext) -> AlertBook:
    if ctx.alerts is None:
        raise Problem(503, "the rules engine does not run in this process: no active alerts here")
    return ctx.alerts


def _matches(t: AlertTransition, f: AlertFilters) -> bool:
    return (
        (not f.site or t.site in f.site)
        and (not f.rule or t.rule in f.rule)
        and (not f.device or t.device in f.device)
        and (not f.level or t.level in f.level)
    )


def _from_transition(t: AlertTransition) -> AlertOut:
    ack = t.acknowledgement
    return AlertOut(
        time=rfc3339(t.ts),
        alert_id=t.alert_id,
        site=t.site,
        rule=t.rule,
        device=t.device,
        channel=t.channel,
        state=t.state,
        level=t.level,
        severity=t.severity,
        value=t.value,
        threshold=t.threshold,
        unit=t.unit,
        message=t.message,
        started_at=rfc3339(t.started_at),
        acknowledgement=(
            AcknowledgementOut(by=ack.by, at=rfc3339(ack.at), note=ack.note, key=ack.key) if ack else None
        ),
    )


def _from_row(row: Row, tags: Mapping[str, str]) -> AlertOut:
    v = row.values
    by, at = as_str(v.get("acknowledged_by")), as_str(v.get("acknowledged_at"))
    ack = None
    if by is not None and at is not None:
        ack = AcknowledgementOut(
            by=by,
            at=_time_text(at),
            note=as_str(v.get("acknowledgement_note")),
            key=as_str(v.get("acknowledged_key")),
        )
    started = as_str(v.get("started_at"))
    return AlertOut(
        time=rfc3339(row.time),
        alert_id=as_str(v.get("alert_id")) or "",
        site=tags.get("site", ""),
        rule=tags.get("rule", ""),
        device=tags.get("device") or None,
        channel=tags.get("channel") or None,
        state=as_str(v.get("state")) or "",
        level=as_str(v.get("level")),
        severity=as_int(v.get("severity")),
        value=as_float(v.get("value")),
        threshold=as_float(v.get("threshold")),
        unit=as_str(v.get("unit")),
        message=as_str(v.get("message")),
        started_at=_time_text(started) if started else None,
        acknowledgement=ack,
    )


def _time_text(text: str) -> str:
    """Stored ISO times (`isoformat()`) in the API's spelling."""
    try:
        return rfc3339(parse_time(text))
    except ValueError:
        return text


def _flat(alert: AlertOut) -> dict[str, object]:
    row: dict[str, object] = alert.model_dump(exclude={"acknowledgement"})
    if alert.acknowledgement is not None:
        row["acknowledged_by"] = alert.acknowledgement.by
        row["acknowledged_at"] = alert.acknowledgement.at
        row["acknowledgement_note"] = alert.acknowledgement.note
        row["acknowledged_key"] = alert.acknowledgement.key
    return row
