"""The API is as strict as docs/api.md says, on every route, over real uvicorn: unknown and repeated query
parameters are 422 problems, an Accept header an operation cannot answer is 406, every operation states its
security (and it is what the server does), and the problem `errors` items are documented as they are."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.backend.api.conftest import Served

pytestmark = pytest.mark.services  # the API served by uvicorn on loopback

PROBLEM: Final = "application/problem+json"
API_DOC: Final = Path(__file__).resolve().parents[3] / "docs" / "api.md"
#: Real values for the path parameters of the test data.
PATH_VALUES: Final = {"site": "ampal-mufakat", "alert_id": "ampal-muka-air:ampal-mufakat:wl-radar:level"}
#: Routes outside the OpenAPI document: the live page and its files, the document and its interactive docs.
PAGE_PATHS: Final = ("/", "/static/app.js", "/openapi.json", "/docs")


def _gets(served: Served) -> list[tuple[str, dict[str, Any]]]:
    """Every documented GET as (URL path with real ids, operation)."""
    out = []
    for path, methods in served.app.openapi()["paths"].items():
        if "get" in methods:
            url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
            out.append((url, methods["get"]))
    return out


def _is_422_naming(response: httpx.Response, location: str) -> bool:
    if response.status_code != 422 or not response.headers["content-type"].startswith(PROBLEM):
        return False
    return location in [e["location"] for e in response.json().get("errors", [])]


async def test_an_unknown_parameter_is_422_on_every_route(served_sqlite: Served) -> None:
    urls = [url for url, _ in _gets(served_sqlite)] + list(PAGE_PATHS)
    assert {"/api/v1/sites", "/api/v1/health/live", "/metrics", "/api/v1/page/bands"} <= set(urls)
    async with served_sqlite.client("admin") as client:
        answers = {url: await client.get(url, params={"knid": "wim"}) for url in urls}
        document, docs = await client.get("/openapi.json"), await client.get("/docs")
    wrong = {url: r.status_code for url, r in answers.items() if not _is_422_naming(r, "query.knid")}
    assert wrong == {}
    assert "/api/v1/sites" in document.json()["paths"]
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    sites = answers["/api/v1/sites"].json()
    assert sites["errors"] == [
        {"location": "query.knid", "message": "unknown parameter; this operation takes kind"}
    ]


async def test_a_repeated_single_value_parameter_is_422_on_every_route(served_sqlite: Served) -> None:
    repeated: list[tuple[str, str]] = []
    async with served_sqlite.client("admin") as client:
        for url, operation in _gets(served_sqlite):
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                variants = [schema, *schema.get("anyOf", [])]
                if parameter["in"] != "query" or any(v.get("type") == "array" for v in variants):
                    continue
                name = parameter["name"]
                response = await client.get(url, params=[(name, "1"), (name, "2")])
                repeated.append((f"{url}?{name}", "ok" if _is_422_naming(response, f"query.{name}") else
                                 f"{response.status_code} {response.text[:200]}"))  # fmt: skip
        kinds = await client.get("/api/v1/sites", params=[("kind", "wim"), ("kind", "river_gauge")])
        lists = await client.get("/api/v1/latest", params=[("site", "ampal-mufakat"), ("site", "x")])
    assert len(repeated) > 20  # every scalar parameter of every operation, not a handful
    assert [r for r in repeated if r[1] != "ok"] == []
    assert kinds.status_code == 422
    assert kinds.json()["errors"] == [
        {"location": "query.kind", "message": "given 2 times; it takes one value"}
    ]
    assert lists.status_code == 200  # a list parameter may repeat: that is how lists are given


async def test_an_unacceptable_accept_header_is_406(served_sqlite: Served) -> None:
    async with served_sqlite.client("admin") as client:
        xml = {
            url: await client.get(url, headers={"Accept": "application/xml"})
            for url, _ in _gets(served_sqlite)
        }
        csv_only_json = await client.get("/api/v1/sites", headers={"Accept": "text/csv"})
        refused_json = await client.get("/api/v1/sites", headers={"Accept": "application/json;q=0"})
        anything = await client.get("/api/v1/sites", headers={"Accept": "*/*"})
        any_text = await client.get("/api/v1/latest", headers={"Accept": "text/*"})
        csv = await client.get("/api/v1/latest", headers={"Accept": "text/csv"})
        scraper = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}
        )
    assert {url: r.status_code for url, r in xml.items() if r.status_code != 406} == {}
    assert all(r.headers["content-type"].startswith(PROBLEM) for r in xml.values())
    assert (csv_only_json.status_code, refused_json.status_code) == (406, 406)
    assert (anything.status_code, any_text.status_code, scraper.status_code) == (200, 200, 200)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")


async def test_every_operation_states_its_security_and_the_server_applies_it(served_sqlite: Served) -> None:
    schema = served_sqlite.app.openapi()
    operations = [(p, m, op) for p, methods in schema["paths"].items() for m, op in methods.items()]
    missing = [f"{m.upper()} {p}" for p, m, op in operations if "security" not in op]
    assert missing == []
    roles = {f"{m.upper()} {p}": _roles(op["security"]) for p, m, op in operations}
    assert {op for op, r in roles.items() if op.startswith("GET") and r != {"read"}} == set()
    assert roles["POST /api/v1/alerts/{alert_id}/acknowledge"] == {"operator"}
    assert roles["POST /api/v1/reports"] == {"report"}
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    # What the document says is what happens to a caller without a key.
    async with served_sqlite.client(None) as client:
        for url, operation in _gets(served_sqlite):
            anonymous_ok = {} in operation["security"]
            status = (await client.get(url)).status_code
            assert (status != 401) == anonymous_ok, (url, status, operation["security"])


def _roles(security: list[dict[str, list[str]]]) -> set[str]:
    return {role for requirement in security for roles in requirement.values() for role in roles}


def test_problem_errors_are_documented_as_the_server_sends_them(served_sqlite: Served) -> None:
    problem = served_sqlite.app.openapi()["components"]["schemas"]
    item = problem["FieldError"]["properties"]
    doc = API_DOC.read_text(encoding="utf-8")
    fields = re.search(r"`errors` \(([a-z_]+), ([a-z_]+)\)", doc)
    assert fields is not None, "docs/api.md: describe the problem `errors` items as `errors` (a, b)"
    assert set(fields.groups()) == set(item) == {"location", "message"}


def test_every_documented_route_is_in_the_api_guide(served_sqlite: Served) -> None:
    doc = API_DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| (GET|POST) \| `([^`]+)`", doc, flags=re.MULTILINE))
    served = {(m.upper(), p) for p, methods in served_sqlite.app.openapi()["paths"].items() for m in methods}
    assert served - documented == set()
