"""The HTTP API's query and path parameters under fuzzing, in process (httpx's ASGI transport, no socket)
on the real app over SQLite holding the API tests' dataset. Every GET operation of the published OpenAPI
document gets arbitrary strings and numbers, known ids, documented enum values, dates and repeats for its
documented parameters, with an admin key or none: the answer is a 2xx, or a 4xx as problem+json; never a
5xx."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from backend.api.app import create_app
from backend.storage.model import Retention
from backend.storage.schema import to_points
from backend.storage.sqlite import SqliteStorage
from tests.backend.api import dataset
from tests.backend.api.alert_book import EngineAlertBook
from tests.backend.api.conftest import KEYS, api_config
from tests.fuzz.profiles import FUZZ


@dataclass
class Api:
    runner: asyncio.Runner
    client: httpx.AsyncClient
    openapi: dict[str, Any]

    def get(self, path: str, params: list[tuple[str, str]], headers: dict[str, str]) -> httpx.Response:
        return self.runner.run(self.client.get(path, params=params, headers=headers))


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """Module-scoped: hypothesis runs every example against one app (a fresh one per example would spend
    the time budget on setup, and nothing here writes)."""
    with tempfile.TemporaryDirectory(prefix="pantau-fuzz-api-") as directory, asyncio.Runner() as runner:
        storage = SqliteStorage(Path(directory) / "pantau.sqlite3", Retention())
        messages = [*dataset.river_messages(), *dataset.vehicle_messages()]
        site_inventory = dataset.inventory()
        engine, judged = dataset.judge(messages, site_inventory)

        async def setup() -> None:
            await storage.setup()
            await storage.write([point for message in messages for point in to_points(message)])
            await storage.write(judged)

        runner.run(setup())
        book = EngineAlertBook(engine, storage, lambda: dataset.NOW)
        app = create_app(
            api_config(), storage, site_inventory, book, clock=lambda: dataset.NOW, instance="fuzz"
        )
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=30)
        try:
            yield Api(runner, client, app.openapi())
        finally:
            runner.run(client.aclose())
            runner.run(storage.close())


def _enums(schema: Any) -> list[str]:
    """Every enum value anywhere in a parameter's schema (anyOf, items, $ref'd enums are inlined)."""
    if isinstance(schema, dict):
        found = [str(v) for v in schema.get("enum", [])]
        for value in schema.values():
            found.extend(_enums(value))
        return found
    if isinstance(schema, list):
        return [v for item in schema for v in _enums(item)]
    return []


KNOWN = [
    "ampal-mufakat",
    "soekarno-hatta-km13",
    "wl-radar-1",
    "wim-1",
    "level",
    "ampal-mufakat/wl-radar-1/level",
    "*",
    "json",
    "csv",
    "true",
    "false",
    dataset.NOW.isoformat(),
    (dataset.NOW - timedelta(days=2)).isoformat(),
    "1h",
    "0s",
    "-1m",
    "Asia/Makassar",
    "Not/AZone",
]


#: Well-formed values by parameter name, so that requests also get past validation to the handlers.
PLAUSIBLE: dict[str, list[str]] = {
    "site": ["ampal-mufakat", "soekarno-hatta-km13"],
    "device": ["wl-radar-1", "wim-1"],
    "channel": ["level", "distance"],
    "series": ["ampal-mufakat/wl-radar-1/level", "ampal-mufakat/*/level"],
    "start": [(dataset.NOW - timedelta(days=2)).isoformat()],
    "end": [dataset.NOW.isoformat()],
    "every": ["1h", "10m", "1d"],
    "tz": ["Asia/Makassar", "UTC"],
    "limit": ["1", "10", "1000"],
    "lat": ["-1.25"],
    "lon": ["116.85"],
    "radius_km": ["5"],
    "gauge_radius_km": ["2"],
    "lane": ["1", "2"],
    "min_excess_kg": ["0", "500"],
    "min_excess_pct": ["5"],
}


def values(enums: list[str]) -> st.SearchStrategy[str]:
    return (
        st.text(max_size=30)
        | st.sampled_from(KNOWN + enums if enums else KNOWN)
        | st.integers(min_value=-(2**70), max_value=2**70).map(str)
        | st.floats().map(repr)
        | st.sampled_from(["", " ", "%00", "\x00", "nan", "inf", "-inf", "1e309", "9" * 40, "' OR 1=1 --"])
        | st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())
    )


def operations(openapi: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return sorted(
        (path, methods["get"].get("parameters", []))
        for path, methods in openapi["paths"].items()
        if "get" in methods and path != "/metrics"  # Prometheus text: no parameters, no problem+json
    )


@st.composite
def requests(draw: st.DrawFn, openapi: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    path, parameters = draw(st.sampled_from(operations(openapi)))
    query: list[tuple[str, str]] = []
    for parameter in parameters:
        name, strategy = parameter["name"], values(_enums(parameter.get("schema")))
        if parameter["in"] == "path":
            path = path.replace("{" + name + "}", quote(draw(strategy.filter(bool)), safe=""))
        elif parameter["in"] == "query":
            # Mostly left out or well-formed, so that most requests get past validation to the handlers
            # (one wild value among fifteen parameters would otherwise stop nearly every one at 422).
            how = draw(st.sampled_from(["omit", "omit", "known", "wild"]))
            if how != "omit":
                known = st.sampled_from(_enums(parameter.get("schema")) or PLAUSIBLE.get(name, KNOWN))
                chosen = known if how == "known" else strategy
                # Lists take repeats; a scalar given twice is a 422 every time, so only wild values repeat.
                repeats = 3 if how == "wild" or parameter.get("schema", {}).get("type") == "array" else 1
                query.extend((name, v) for v in draw(st.lists(chosen, min_size=1, max_size=repeats)))
    if draw(st.integers(0, 3)) == 3:  # a parameter the operation does not document
        query.append((draw(st.text(min_size=1, max_size=10)), draw(values([]))))
    return path, query


def test_every_get_operation_is_fuzzed(api: Api) -> None:
    paths = {path for path, _ in operations(api.openapi)}
    assert {"/api/v1/latest", "/api/v1/series", "/api/v1/vehicles", "/api/v1/reports"} <= paths
    # The dataset is there: the fuzzing reaches handlers with data, not only empty answers.
    answer = api.get("/api/v1/latest", [], {"Authorization": f"Bearer {KEYS['admin']}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()


@FUZZ
@given(data=st.data())
def test_arbitrary_parameters_get_2xx_or_a_problem_never_5xx(api: Api, data: st.DataObject) -> None:
    path, query = data.draw(requests(api.openapi), label="request")
    role = data.draw(st.sampled_from(["admin", None]), label="role")
    headers = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}
    response = api.get(path, query, headers)
    event(f"{response.status_code}")  # --hypothesis-show-statistics: how many got through to the handlers
    assert response.status_code < 500, f"GET {path} {query}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", "")
        assert content_type.startswith("application/problem+json"), f"GET {path} {query}: {content_type}"
        assert response.json().get("title"), f"GET {path} {query}: a problem without a title"
