"""The page's routes served by uvicorn: the static files (same-origin only, an explicit list), the alert
bands from the rules file, and the bands' read access like the rest of the inventory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from backend.api.app import create_app
from backend.api.page import FILES, STATIC
from backend.api.page.bands import level_bands
from backend.inventory import SiteInventory
from backend.rules import RuleEngine, load_rules
from backend.storage.sqlite import SqliteStorage
from tests.backend.api.alert_book import EngineAlertBook
from tests.backend.api.conftest import KEYS, api_config, serve
from tests.backend.api.page.conftest import RULES
from tests.harness.alerts import SITES


@pytest.fixture
def inventory() -> SiteInventory:
    return SiteInventory.load(SITES)


@pytest.fixture
async def url(sqlite_storage: SqliteStorage, inventory: SiteInventory) -> AsyncIterator[str]:
    """The API with the shipped rules behind its alert book; only health is public."""
    engine = RuleEngine(load_rules(RULES), inventory, "page-test")
    book = EngineAlertBook(engine, sqlite_storage, lambda: datetime.now(UTC))
    app = create_app(api_config(public=["health"]), sqlite_storage, inventory, book)
    async with serve(app) as base:
        yield base


@pytest.mark.services  # uvicorn on loopback
async def test_the_page_and_its_files_are_served_with_a_same_origin_policy(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert "/static/app.js" in referenced and "/static/style.css" in referenced
        for ref in referenced:
            assert ref.startswith("/"), f"{ref}: the page must work offline (same origin only)"
            answer = await client.get(ref)
            assert answer.status_code == 200, ref
        for name, media_type in FILES.items():
            answer = await client.get(f"/static/{name}")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == media_type
            assert answer.headers["x-content-type-options"] == "nosniff"
        # No key is needed for the page itself: the data behind it is what the key protects.
        assert (await client.get("/api/v1/latest")).status_code == 401


@pytest.mark.services  # uvicorn on loopback
@pytest.mark.parametrize("name", ["index.html", "..%2F__init__.py", "bands.py", "app.js.map", "%2e%2e"])
async def test_only_listed_files_are_served(url: str, name: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        answer = await client.get(f"/static/{name}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_static_files_fetch_nothing_from_elsewhere() -> None:
    """Field deployments can be offline: no CDN, no web font, no absolute URL but the SVG namespace."""
    for path in STATIC.iterdir():
        text = path.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{path.name}: {urls}"
    assert {p.name for p in STATIC.iterdir()} == {*FILES, "index.html"}


@pytest.mark.services  # uvicorn on loopback
async def test_bands_come_from_the_levels_rules_and_need_a_key(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/api/v1/page/bands")).status_code == 401
        answer = await client.get("/api/v1/page/bands", headers={"Authorization": f"Bearer {KEYS['read']}"})
        schema = (await client.get("/openapi.json")).json()
    assert answer.status_code == 200
    bands = {(b["site"], b["device"], b["channel"], b["rule"]): b for b in answer.json()["bands"]}
    assert set(bands) == {
        ("ampal-mufakat", "wl-radar", "level", "ampal-muka-air"),
        ("ampal-mufakat", "wl-radar", "level_from_distance", "ampal-muka-air"),  # derived: also a water level
        ("ampal-mufakat", "wl-pressure", "level", "ampal-muka-air"),
        ("ampal-mufakat", "wl-radar", "distance", "ampal-jagaan"),
    }
    level = bands["ampal-mufakat", "wl-radar", "level", "ampal-muka-air"]
    assert level["direction"] == "up" and level["unit"] == "m" and level["normal"] == "Normal"
    assert [(lv["name"], lv["trigger"], lv["clear"], lv["severity"]) for lv in level["levels"]] == [
        ("Siaga IV", 1.5, 1.4, 1),
        ("Siaga III", 2.0, 1.9, 2),
        ("Siaga II", 2.5, 2.4, 4),
        ("Siaga I", 2.9, 2.8, 6),
    ]
    freeboard = bands["ampal-mufakat", "wl-radar", "distance", "ampal-jagaan"]
    assert freeboard["direction"] == "down" and freeboard["normal"] == "Aman"
    # The bands are part of the published API; the page itself is not.
    assert "/api/v1/page/bands" in schema["paths"] and "/" not in schema["paths"]


@pytest.mark.services  # uvicorn on loopback
async def test_without_a_rules_engine_there_are_no_bands(
    sqlite_storage: SqliteStorage, inventory: SiteInventory
) -> None:
    app = create_app(api_config(public=["inventory"]), sqlite_storage, inventory, None)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        answer = await client.get("/api/v1/page/bands")
    assert answer.status_code == 200
    assert answer.json() == {"bands": []}


def test_bands_skip_rules_that_are_not_levels(inventory: SiteInventory) -> None:
    rules = load_rules(RULES)
    kinds = {rule.kind for rule in rules.rules}
    assert {"rate", "accumulation", "qc", "odol"} <= kinds  # the file has other kinds to skip
    assert {b.rule for b in level_bands(rules, inventory)} == {"ampal-muka-air", "ampal-jagaan"}


def test_an_empty_inventory_has_no_bands() -> None:
    assert level_bands(load_rules(RULES), SiteInventory([])) == []
