"""The API over real uvicorn, on SQLite and InfluxDB, with data that went gateway -> Mosquitto -> worker."""

from __future__ import annotations

import csv
import io
import json

from backend.api.road_wear import esal_of
from tests.backend.api import dataset
from tests.backend.api.conftest import Served

PROBLEM = "application/problem+json"


async def test_inventory_lists_sites_devices_channels_and_last_contact(served: Served) -> None:
    async with served.client(None) as client:  # inventory is public in this configuration
        sites = (await client.get("/api/v1/sites")).json()["sites"]
        river = (await client.get("/api/v1/sites", params={"kind": "river_gauge"})).json()["sites"]
        devices = (await client.get("/api/v1/sites/ampal-mufakat/devices")).json()["devices"]
        wim = (await client.get("/api/v1/sites/soekarno-hatta-km13/devices")).json()["devices"]
    assert [s["id"] for s in sites] == ["ampal-mufakat", "soekarno-hatta-km13"]
    assert [s["id"] for s in river] == ["ampal-mufakat"]
    assert sites[1]["road_class"] == "I" and sites[0]["tags"] == ["river"]
    radar = next(d for d in devices if d["id"] == "wl-radar")
    level = next(c for c in radar["channels"] if c["id"] == "level")
    assert level == {"id": "level", "unit": "m", "quantity": "water_level"}
    assert radar["last_contact"] == "2026-11-28T23:50:00.000000Z"
    assert next(d for d in devices if d["id"] == "rain")["last_contact"] is None  # never reported
    assert next(d for d in wim if d["id"] == "wim-1")["last_contact"] is not None


async def test_latest_values_carry_quality_and_the_current_alert_level(served: Served) -> None:
    async with served.client(None) as client:  # public: the flood map has no key
        response = await client.get("/api/v1/latest", params={"site": "ampal-mufakat", "channel": "level"})
        csv_response = await client.get("/api/v1/latest", params={"quantity": "water_level", "format": "csv"})
    assert response.status_code == 200
    latest = {item["device"]: item for item in response.json()["latest"]}
    assert latest["wl-radar"]["value"] == dataset.level_at(dataset.POLLS - 1)
    assert latest["wl-radar"]["quality"] == "good" and latest["wl-radar"]["unit"] == "m"
    assert latest["wl-radar"]["alert"]["level"] == "Siaga III"
    assert latest["wl-radar"]["alert"]["state"] == "firing"
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert {(r["device"], r["alert_level"]) for r in rows} == {
        ("wl-radar", "Siaga III"),
        ("wl-pressure", "Siaga III"),
    }


async def test_raw_series_pages_through_time_without_gaps_or_repeats(served: Served) -> None:
    params = {
        "series": ["ampal-mufakat/wl-radar/level", "ampal-mufakat/wl-pressure/level"],
        "start": "2026-11-28T00:00:00Z",
        "end": "2026-11-29T00:00:00Z",
        "limit": "50",
    }
    seen: dict[str, list[str]] = {"wl-radar": [], "wl-pressure": []}
    pages = 0
    async with served.client() as client:
        url: str | None = "/api/v1/series"
        query: dict[str, object] | None = params
        while url is not None:
            page = (await client.get(url, params=query)).json()
            for series in page["series"]:
                seen[series["device"]].extend(row["time"] for row in series["rows"])
            url, query, pages = page["next"], None, pages + 1
    assert pages == 3
    for times in seen.values():
        assert len(times) == dataset.POLLS == len(set(times))
        assert times == sorted(times)


async def test_aggregates_use_local_days_in_asia_makassar(served: Served) -> None:
    base = {
        "series": "ampal-mufakat/wl-radar/level",
        "start": "2026-11-27T00:00:00Z",
        "end": "2026-11-30T00:00:00Z",
    }
    async with served.client() as client:
        utc = (await client.get("/api/v1/series", params=base | {"every": "1d", "agg": "count"})).json()
        wita = (
            await client.get(
                "/api/v1/series", params=base | {"every": "1d", "agg": "count", "tz": "Asia/Makassar"}
            )
        ).json()
        hourly_max = (await client.get("/api/v1/series", params=base | {"every": "1h", "agg": "max"})).json()
    assert [(r["time"], r["value"]) for r in utc["series"][0]["rows"]] == [
        ("2026-11-28T00:00:00.000000Z", 144)
    ]
    # WITA is UTC+8: local days start at 16:00 UTC; 96 polls before, 48 after.
    assert [(r["time"], r["value"]) for r in wita["series"][0]["rows"]] == [
        ("2026-11-27T16:00:00.000000Z", 96),
        ("2026-11-28T16:00:00.000000Z", 48),
    ]
    rows = hourly_max["series"][0]["rows"]
    assert len(rows) == 24 and rows[-1]["value"] == dataset.level_at(dataset.POLLS - 1)


async def test_series_csv_and_caps(served: Served) -> None:
    async with served.client() as client:
        as_csv = await client.get(
            "/api/v1/series",
            params={"series": "ampal-mufakat/wl-radar/level", "start": "2026-11-28T00:00:00Z", "limit": "10"},
            headers={"Accept": "text/csv"},
        )
        too_long = await client.get(
            "/api/v1/series",
            params={"series": "a/b/c", "start": "2026-01-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
        )
        too_many = await client.get(
            "/api/v1/series",
            params={
                "series": "a/b/c",
                "every": "1m",
                "start": "2025-12-01T00:00:00Z",
                "end": "2026-11-01T00:00:00Z",
            },
        )
    lines = as_csv.text.splitlines()
    assert lines[0] == "site,device,channel,time,value,quality" and len(lines) == 11
    assert 'rel="next"' in as_csv.headers["link"]
    assert too_long.status_code == 400 and too_long.headers["content-type"] == PROBLEM
    assert "7 days" in too_long.json()["detail"]
    assert too_many.status_code == 400 and "buckets" in too_many.json()["detail"]


async def test_vehicles_filter_on_verdicts_and_report_road_wear(served: Served) -> None:
    window = {"start": "2026-11-28T00:00:00Z", "end": "2026-11-29T00:00:00Z"}
    async with served.client() as client:
        everything = (await client.get("/api/v1/vehicles", params=window)).json()["vehicles"]
        overloaded = (await client.get("/api/v1/vehicles", params=window | {"overloaded": "true"})).json()[
            "vehicles"
        ]
        heavy = (await client.get("/api/v1/vehicles", params=window | {"min_excess_kg": "5000"})).json()[
            "vehicles"
        ]
        lane2 = (await client.get("/api/v1/vehicles", params=window | {"lane": "2", "limit": "7"})).json()
        as_csv = await client.get(
            "/api/v1/vehicles", params=window | {"format": "csv", "verdict": "violation"}
        )
    assert len(everything) == dataset.TRUCKS
    assert overloaded and all(v["overloaded"] for v in overloaded)
    assert {v["record_id"] for v in overloaded} == {v["record_id"] for v in everything if v["overloaded"]}
    assert heavy and all(v["excess_kg"] >= 5000 for v in heavy)
    assert len(lane2["vehicles"]) == 7 and all(v["lane"] == 2 for v in lane2["vehicles"])
    assert lane2["next"] is not None
    truck = everything[0]
    recomputed = esal_of(None, _axles_json(truck["axles"]))
    assert recomputed is not None and abs(truck["esal"] - recomputed) < 1e-9
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows and all(row["verdict"] == "violation" for row in rows)
    # Without tyre data the configuration is the one judged from the axle groups, and says so.
    untyred = [v for v in everything if all(axle["tyres"] is None for axle in v["axles"])]
    assert len(untyred) == dataset.TRUCKS // 3
    assert all(v["configuration_inferred"] is True and v["axle_configuration"] for v in untyred)
    assert all(v["configuration_inferred"] is False for v in everything if v not in untyred)
    assert {row["configuration_inferred"] for row in rows} <= {"true", "false"}


async def test_vehicle_statistics_per_hour_count_overloads_tonnage_and_esal(served: Served) -> None:
    window = {"start": "2026-11-28T00:00:00Z", "end": "2026-11-29T00:00:00Z"}
    async with served.client() as client:
        vehicles = (await client.get("/api/v1/vehicles", params=window)).json()["vehicles"]
        stats = (await client.get("/api/v1/vehicles/stats", params=window | {"every": "1h"})).json()
        daily = (
            await client.get("/api/v1/vehicles/stats", params=window | {"every": "1d", "tz": "Asia/Makassar"})
        ).json()
    buckets = stats["buckets"]
    assert sum(b["vehicles"] for b in buckets) == dataset.TRUCKS
    overloaded = [v for v in vehicles if v["overloaded"]]
    assert sum(b["overloaded"] for b in buckets) == len(overloaded)
    excess = sum(v["excess_kg"] for v in overloaded) / 1000
    assert abs(sum(b["excess_t"] for b in buckets) - excess) < 0.01
    assert abs(sum(b["esal"] for b in buckets) - sum(v["esal"] for v in vehicles)) < 1e-3
    assert buckets[0]["overload_share"] == round(buckets[0]["overloaded"] / buckets[0]["judged"], 6)
    assert [b["time"] for b in daily["buckets"]] == ["2026-11-27T16:00:00.000000Z"]


async def test_alerts_active_history_and_acknowledgement_with_roles(served: Served) -> None:
    alert_id = "ampal-muka-air:ampal-mufakat:wl-radar:level"
    async with served.client() as reader, served.client("operator") as operator, served.client(None) as anon:
        active = (await reader.get("/api/v1/alerts/active", params={"site": "ampal-mufakat"})).json()[
            "alerts"
        ]
        anonymous = await anon.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={})
        forbidden = await reader.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={})
        acknowledged = await operator.post(
            f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "petugas BPBD menuju lokasi"}
        )
        # An operator at a shared console names who acted; the key that was authenticated is kept beside it.
        on_behalf = await operator.post(
            f"/api/v1/alerts/{alert_id}/acknowledge", json={"by": "Budi (BPBD)", "note": "di lokasi"}
        )
        unknown = await operator.post("/api/v1/alerts/no-such-alert/acknowledge", json={})
        history = (
            await reader.get(
                "/api/v1/alerts/history",
                params={
                    "rule": "ampal-muka-air",
                    "device": "wl-radar",
                    "start": "2026-11-28T00:00:00Z",
                    "end": "2026-11-30T00:00:00Z",
                },
            )
        ).json()["alerts"]
        by_level = (
            await reader.get(
                "/api/v1/alerts/history", params={"level": "Siaga III", "start": "2026-11-28T00:00:00Z"}
            )
        ).json()["alerts"]
    assert {a["alert_id"] for a in active} >= {alert_id}
    assert all(a["site"] == "ampal-mufakat" for a in active)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM
    assert "www-authenticate" in anonymous.headers
    assert forbidden.status_code == 403 and "operator" in forbidden.json()["detail"]
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["acknowledgement"] == {
        "by": "operator-client",
        "at": "2026-11-29T00:00:00.000000Z",
        "note": "petugas BPBD menuju lokasi",
        "key": "operator-client",
    }
    assert on_behalf.status_code == 200, on_behalf.text
    assert on_behalf.json()["acknowledgement"] | {"at": "-"} == {
        "by": "Budi (BPBD)",
        "at": "-",
        "note": "di lokasi",
        "key": "operator-client",
    }
    assert unknown.status_code == 404
    # Stored with both names (the audit trail, from storage). Both acknowledgements came at the same
    # (fixed) time, so the second is stored over the first, as any transition of one series and time is.
    assert [a["state"] for a in history] == ["pending", "firing", "firing"]
    assert history[-1]["acknowledgement"] | {"at": "-"} == on_behalf.json()["acknowledgement"] | {"at": "-"}
    assert by_level and all(a["level"] == "Siaga III" for a in by_level)


async def test_errors_are_problem_documents_without_internals(served: Served) -> None:
    async with served.client() as client:
        cases = {
            "/api/v1/sites/no-such-site": 404,
            "/api/v1/nothing-here": 404,
            "/api/v1/series?series=a/b/c&start=2026-11-28T00:00:00": 422,  # no zone
            "/api/v1/series?series=a/b/c&start=2026-11-29T00:00:00Z&end=2026-11-28T00:00:00Z": 400,
            "/api/v1/vehicles?colour=red": 422,  # unknown parameters are errors
            "/api/v1/series?series=a/b/c&every=5m": 422,
        }
        for url, status in cases.items():
            response = await client.get(url)
            assert response.status_code == status, (url, response.text)
            assert response.headers["content-type"] == PROBLEM
            body = response.json()
            assert body["status"] == status and body["title"] and "Traceback" not in response.text
        bad_key = await client.get("/api/v1/series?series=a/b/c", headers={"Authorization": "Bearer nope"})
    assert bad_key.status_code == 401


async def test_health_readiness_and_metrics(served: Served) -> None:
    async with served.client(None) as anon, served.client() as reader:
        live = await anon.get("/api/v1/health/live")
        ready = await anon.get("/api/v1/health/ready")
        metrics_anon = await anon.get("/metrics")
        metrics = await reader.get("/metrics")
        docs = await anon.get("/openapi.json")
    assert live.json() == {"status": "ok", "checks": {}}
    assert ready.status_code == 200 and ready.json()["checks"] == {"storage": "ok"}
    assert metrics_anon.status_code == 401
    assert 'pantau_api_requests_total{method="GET",route="live",status="200"}' in metrics.text
    assert "/api/v1/vehicles/stats" in docs.json()["paths"]


def _axles_json(axles: list[dict[str, object]]) -> str:
    return json.dumps([{k: v for k, v in a.items() if v is not None} for a in axles])
