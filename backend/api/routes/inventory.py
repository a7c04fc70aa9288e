"""Sites and their devices (with channels and last contact), from the site inventory and storage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from backend.api.context import ApiContext
from backend.api.models import Channel, Device, DeviceList, Site, SiteList
from backend.api.params import rfc3339
from backend.api.problems import Problem
from backend.config.api import Role
from backend.inventory import SiteInfo
from backend.storage.model import SeriesQuery
from backend.storage.schema import DEVICE_STATUS, READING, VEHICLE
from pantau.contract.fields import SLUG_PATTERN

SitePath = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63, description="Site id")]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["inventory"], dependencies=[Depends(ctx.keys.dependency("inventory", Role.READ))])

    @api.get("/sites", response_model=SiteList, summary="Every site")
    async def sites(
        kind: Annotated[
            Literal["river_gauge", "rain_gauge", "wim", "weighbridge", "mixed"] | None, Query()
        ] = None,
    ) -> SiteList:
        return SiteList(sites=[_site(s) for s in ctx.inventory.sites() if kind is None or s.kind == kind])

    @api.get("/sites/{site}", response_model=Site, summary="One site")
    async def site(site: SitePath) -> Site:
        return _site(_known(ctx, site))

    @api.get("/sites/{site}/devices", response_model=DeviceList, summary="A site's devices and channels")
    async def devices(site: SitePath) -> DeviceList:
        info = _known(ctx, site)
        contact, status = await last_contact(ctx, site)
        rejected = await rejected_totals(ctx, site)
        return DeviceList(
            devices=[
                Device(
                    id=d.id,
                    site=site,
                    profile=d.profile,
                    kind="records" if d.kind == "records" else "modbus",
                    source=d.source,
                    enabled=d.enabled,
                    poll_interval_s=d.poll_interval_s,
                    channels=[Channel(id=c.id, unit=c.unit, quantity=c.quantity) for c in d.channels],
                    last_contact=rfc3339(contact[d.id]) if d.id in contact else None,
                    status=status.get(d.id),
                    rejected_total=rejected.get(d.id),
                )
                for d in info.devices
            ]
        )

    return api


def _known(ctx: ApiContext, site: str) -> SiteInfo:
    info = ctx.inventory.site(site)
    if info is None:
        raise Problem(404, f"no site '{site}'")
    return info


def _site(info: SiteInfo) -> Site:
    return Site(
        id=info.id,
        name=info.name,
        kind=info.kind,
        lat=info.lat,
        lon=info.lon,
        elevation_m=info.elevation_m,
        road_class=info.road_class,
        gateway=info.gateway,
        tags=sorted(info.tags),
        devices=[d.id for d in info.devices],
    )


async def last_contact(ctx: ApiContext, site: str) -> tuple[dict[str, datetime], dict[str, str]]:
    """Per device: the time of its latest reading, vehicle or status; and its latest reported state."""
    now = ctx.clock()
    start = now - ctx.settings.caps.latest_lookback
    contact: dict[str, datetime] = {}
    status: dict[str, str] = {}
    for measurement, field in ((READING, "seq"), (VEHICLE, "seq"), (DEVICE_STATUS, "state")):
        query = SeriesQuery(
            measurement,
            (field,),
            start,
            now + ctx.clock_skew,  # a time a wrong clock put years ahead is no contact now
            tags={"site": site},
            group_by=("device",),
            limit=1,
            descending=True,
        )
        for series in await ctx.storage.query(query):
            device = series.tags.get("device", "")
            row = series.rows[0]
            if device not in contact or row.time > contact[device]:
                contact[device] = row.time
            if measurement == DEVICE_STATUS and isinstance(row.values.get("state"), str):
                status[device] = str(row.values["state"])
    return contact, status


async def rejected_totals(ctx: ApiContext, site: str) -> dict[str, int]:
    """Per record-stream device: the frames it refused, as its latest device status counts them."""
    now = ctx.clock()
    query = SeriesQuery(
        DEVICE_STATUS,
        ("rejected_total",),
        now - ctx.settings.caps.latest_lookback,
        now + ctx.clock_skew,  # as last_contact: a status a wrong clock dated ahead is not the latest
        tags={"site": site},
        group_by=("device",),
        limit=1,
        descending=True,
    )
    totals: dict[str, int] = {}
    for series in await ctx.storage.query(query):
        value = series.rows[0].values.get("rejected_total") if series.rows else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            totals[series.tags.get("device", "")] = int(value)
    return totals
