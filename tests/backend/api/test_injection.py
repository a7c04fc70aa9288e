"""Injection attempts in every string parameter: rejected (400/404/422) or harmless (treated as a literal
value that matches nothing), never a server error, and the stored data is untouched afterwards."""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import quote

from tests.backend.api import dataset
from tests.backend.api.conftest import Served

ATTEMPTS: Final = (
    "'",
    '"',
    "\\",
    "ampal-mufakat' OR '1'='1",
    'ampal-mufakat" OR 1=1 --',
    "x'; DROP MEASUREMENT reading; --",
    "x'); DELETE FROM points; --",
    "ampal-mufakat'\nDROP DATABASE pantau",
    "line\r\nbreak",
    "x' GROUP BY * LIMIT 1 --",
    "/* comment */",
    "%00",
    "\x00",
    "Siaga III' OR level=~/.*/ --",
    "1-2' OR '1'='1",
    "2026-11-28T00:00:00Z' OR time > 0 --",
    "Asia/Makassar') fill(none) --",
)
#: Every string query parameter of every GET route.
GET_PARAMETERS: Final = {
    "/api/v1/sites": ["kind"],
    "/api/v1/latest": ["site", "device", "channel", "quantity", "format"],
    "/api/v1/series": ["series", "start", "end", "every", "agg", "tz", "format"],
    "/api/v1/vehicles": ["site", "device", "direction", "vehicle_class", "axle_configuration", "verdict",
                         "start", "end", "format", "lane", "overloaded", "min_excess_kg"],
    "/api/v1/vehicles/stats": ["site", "vehicle_class", "axle_configuration", "every", "tz", "start"],
    "/api/v1/alerts/active": ["site", "rule", "device", "level"],
    "/api/v1/alerts/history": ["site", "rule", "device", "level", "state", "start", "end"],
    "/api/v1/reports": ["start", "end", "lat", "format"],
}  # fmt: skip
#: Labels are free text by design (level names have spaces): a quote is a literal character there.
FREE_TEXT: Final = {"vehicle_class", "level"}
BASE: Final = {"/api/v1/series": {"series": "ampal-mufakat/wl-radar/level"}}


async def test_string_parameters_reject_or_neutralise_injection(served: Served) -> None:
    before = await _stored(served)
    async with served.client("admin") as client:
        for path, names in GET_PARAMETERS.items():
            for name in names:
                requests = [client.get(path, params=BASE.get(path, {}) | {name: a}) for a in ATTEMPTS]
                for attempt, response in zip(ATTEMPTS, await asyncio.gather(*requests), strict=True):
                    where = f"{path}?{name}={attempt!r}"
                    assert response.status_code in (400, 404, 422, 200), (where, response.text)
                    if response.status_code != 200:
                        assert response.headers["content-type"] == "application/problem+json", where
                        continue
                    assert name in FREE_TEXT, (where, response.text[:300])
                    assert _empty(response.json()), (where, response.text[:300])
        for attempt in ATTEMPTS:  # path parameters
            for template in ("/api/v1/sites/{}", "/api/v1/sites/{}/devices"):
                response = await client.get(template.format(quote(attempt, safe="")))
                assert response.status_code in (404, 422), (template, attempt, response.text)
    assert await _stored(served) == before


async def test_free_text_in_bodies_is_stored_literally(served: Served) -> None:
    alert_id = "ampal-muka-air:ampal-mufakat:wl-pressure:level"
    note = 'x\'; DROP MEASUREMENT alert; -- "quoted" \\ back'
    async with served.client("operator") as client:
        injected_id = await client.post("/api/v1/alerts/x'%20OR%20'1'='1/acknowledge", json={})
        control = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "a\x00b"})
        acknowledged = await client.post(
            f"/api/v1/alerts/{alert_id}/acknowledge", json={"by": note, "note": note}
        )
        history = (
            await client.get(
                "/api/v1/alerts/history",
                params={
                    "device": "wl-pressure",
                    "start": "2026-11-28T00:00:00Z",
                    "end": "2026-11-30T00:00:00Z",
                },
            )
        ).json()["alerts"]
    assert injected_id.status_code == 422
    assert control.status_code == 422  # control characters are not text
    assert acknowledged.status_code == 200
    assert history[-1]["acknowledgement"]["note"] == note and history[-1]["acknowledgement"]["by"] == note
    assert await dataset.stored(served.storage, "reading") == dataset.Expected().readings


def _empty(body: dict[str, object]) -> bool:
    lists = [value for value in body.values() if isinstance(value, list)]
    return bool(lists) and all(not value for value in lists)


async def _stored(served: Served) -> tuple[int, int, int]:
    return (
        await dataset.stored(served.storage, "reading"),
        await dataset.stored(served.storage, "vehicle"),
        await dataset.stored(served.storage, "alert", "state"),
    )


async def test_free_text_filters_still_match_their_real_values(served: Served) -> None:
    # The control for "harmless" above: a free-text filter that matched nothing at all (quoting gone
    # wrong) would pass there too. With a real value it must return exactly the matching rows.
    async with served.client("admin") as client:
        vehicles = (await client.get("/api/v1/vehicles", params={"limit": 1000})).json()["vehicles"]
        classes = sorted({v["vehicle_class"] for v in vehicles if v["vehicle_class"]})
        assert classes, "the dataset should hold vehicles with a class"
        wanted = {v["record_id"] for v in vehicles if v["vehicle_class"] == classes[0]}
        response = await client.get("/api/v1/vehicles", params={"vehicle_class": classes[0], "limit": 1000})
        assert {v["record_id"] for v in response.json()["vehicles"]} == wanted
        active = (await client.get("/api/v1/alerts/active")).json()["alerts"]
        levels = sorted({a["level"] for a in active if a["level"]})
        assert levels, "the dataset should leave alerts active at a level"
        wanted = {a["alert_id"] for a in active if a["level"] == levels[0]}
        response = await client.get("/api/v1/alerts/active", params={"level": levels[0]})
        assert {a["alert_id"] for a in response.json()["alerts"]} == wanted
