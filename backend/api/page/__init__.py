"""The live page: a map of sites coloured by alert level, water-level charts with their alert bands, the
latest trucks and their verdicts, active alerts and gateway health, for technicians at a site and as the
fallback when Grafana is not deployed.

Static files only (HTML, plain JavaScript, CSS; no build step, nothing fetched from the internet: field
deployments can be offline). The page reads the public API (`/api/v1/...`) like any other client, with
the key the user types in (kept in the browser's localStorage), polling every few seconds. The one thing
the API did not serve is the alert bands: `GET /api/v1/page/bands`, the `levels` rules resolved to the
channels they watch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from backend.api.context import ApiContext
from backend.api.page.bands import BandList, level_bands
from backend.api.problems import Problem
from backend.config.api import Role
from backend.rules.config import RulesFile
from backend.rules_service.alert_book import AlertBook

STATIC: Final = Path(__file__).parent / "static"
#: Every file the page serves, by URL name: an explicit list, so no path from a URL ever reaches the disk.
FILES: Final = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: Same-origin everything: the page works offline and nothing injected can call out.
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def router(ctx: ApiContext) -> APIRouter:
    """`/` (the page), `/static/{name}` and `/api/v1/page/bands`; include without a prefix."""
    api = APIRouter()

    @api.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)

    @api.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        media_type = FILES.get(name)
        if media_type is None:
            raise Problem(404, f"no file '{name}'")
        return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)

    @api.get(
        "/api/v1/page/bands",
        response_model=BandList,
        tags=["inventory"],
        summary="Alert bands of level charts",
        dependencies=[Depends(ctx.keys.dependency("inventory", Role.READ))],
    )
    async def bands() -> BandList:
        """The alert levels (trigger, clear, severity) of every `levels` rule on each channel it watches;
        empty when this process runs no rules engine."""
        rules = rules_of(ctx.alerts)
        return BandList(bands=level_bands(rules, ctx.inventory) if rules is not None else [])

    return api


def rules_of(book: AlertBook | None) -> RulesFile | None:
    """The rules file behind the alert book: the worker's book is its rules service, whose engine holds the
    rules (`book.engine.rules`). create_app takes no rules of its own, so the page reads them here."""
    rules = getattr(getattr(book, "engine", None), "rules", None)
    return rules if isinstance(rules, RulesFile) else None
