"""Citizen flood reports: validated on the way in, never overwriting each other, listed by area and time
next to the nearest gauges' water level at the time of the observation."""

from __future__ import annotations

import asyncio

from tests.backend.api.conftest import Served

MUFAKAT = {"lat": -1.2480, "lon": 116.8570}  # ~250 m from the Ampal gauge
KARIANGAU = {"lat": -1.1500, "lon": 116.7900}  # far from any gauge


async def test_reports_are_validated_stored_apart_and_listed_next_to_nearby_gauges(served: Served) -> None:
    async with served.client("report") as reporter, served.client() as reader:
        # The API's clock stands still: every report arrives at the same instant, none may overwrite another.
        posted = await asyncio.gather(
            *(
                reporter.post(
                    "/api/v1/reports",
                    json=MUFAKAT
                    | {"depth_cm": 30 + i, "observed_at": "2026-11-28T23:00:00+08:00", "note": f"#{i}"},
                )
                for i in range(5)
            ),
            reporter.post(
                "/api/v1/reports", json=KARIANGAU | {"depth_cm": 5, "photo_url": "https://foto.example/1.jpg"}
            ),
        )
        refused = {
            "future": await reporter.post(
                "/api/v1/reports", json=MUFAKAT | {"depth_cm": 1, "observed_at": "2026-12-30T00:00:00Z"}
            ),
            "deep": await reporter.post("/api/v1/reports", json=MUFAKAT | {"depth_cm": 900}),
            "http photo": await reporter.post(
                "/api/v1/reports", json=MUFAKAT | {"depth_cm": 1, "photo_url": "http://x/1.jpg"}
            ),
            "extra field": await reporter.post(
                "/api/v1/reports", json=MUFAKAT | {"depth_cm": 1, "name": "Budi"}
            ),
            "reader key": await reader.post("/api/v1/reports", json=MUFAKAT | {"depth_cm": 1}),
        }
        everything = (await reader.get("/api/v1/reports")).json()["reports"]
        near = (await reader.get("/api/v1/reports", params=MUFAKAT | {"radius_km": 1})).json()["reports"]
        as_csv = await reader.get("/api/v1/reports", params={"format": "csv"})
    assert [p.status_code for p in posted] == [201] * 6, [p.text for p in posted]
    assert {name: r.status_code for name, r in refused.items()} == {
        "future": 422, "deep": 422, "http photo": 422, "extra field": 422, "reader key": 403,
    }  # fmt: skip
    assert len({p.json()["id"] for p in posted}) == 6 and len(everything) == 6
    assert sorted(r["note"] for r in near) == [f"#{i}" for i in range(5)]
    report = near[0]
    assert report["observed_at"] == "2026-11-28T15:00:00.000000Z" and report["reporter"] == "report-client"
    gauge = report["nearby"][0]
    assert gauge["site"] == "ampal-mufakat" and gauge["distance_km"] < 1
    assert gauge["time"] == "2026-11-28T15:00:00.000000Z" and gauge["value"] is not None  # the level then
    far = next(r for r in everything if r["photo_url"])
    assert far["nearby"] == []
    assert as_csv.text.splitlines()[0].startswith("id,received_at,observed_at,lat,lon,depth_cm")
