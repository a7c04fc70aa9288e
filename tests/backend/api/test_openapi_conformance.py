"""The HTTP API against its own OpenAPI document, checked by libraries that are not FastAPI:
`openapi-spec-validator` reads the document, `openapi-core` checks every answer of the real server (uvicorn)
to good and bad calls of every route (status, content type, headers, body) against it."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.backend.api.conftest import KEYS, Served

pytestmark = pytest.mark.services  # the API served by uvicorn on loopback

PATH_VALUES: Final = {"site": "ampal-mufakat", "alert_id": "ampal-muka-air:ampal-mufakat:wl-radar:level"}
#: Calls every GET route answers with a problem, whatever its parameters: (what, query, headers).
BAD_CALLS: Final[list[tuple[str, list[tuple[str, str]], dict[str, str]]]] = [
    ("unknown parameter", [("knid", "wim")], {}),
    ("unacceptable Accept", [], {"Accept": "application/xml"}),
    ("unknown key", [], {"Authorization": "Bearer not-a-key"}),
]


def test_the_openapi_document_is_valid(served_sqlite: Served) -> None:
    validate(served_sqlite.app.openapi())  # raises on any error; 3.1 detected from the document


async def test_every_answer_matches_the_openapi_document(served_sqlite: Served) -> None:
    spec = served_sqlite.app.openapi()
    # openapi-core reads only application/json as JSON and text/plain as text out of the box; a problem
    # document is JSON too, and CSV is text (documented as a string).
    config = Config(
        extra_media_type_deserializers={"application/problem+json": json.loads, "text/csv": bytes.decode}
    )
    openapi = OpenAPI.from_dict(spec, config=config)
    calls: list[tuple[str, str, list[tuple[str, str]], dict[str, str], bytes | None]] = []
    for path, methods in spec["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
        if "get" in methods:
            calls.append(("GET", url, [], {}, None))
            calls.append(("GET", url, [], {"Accept": "*/*"}, None))
            calls += [("GET", url, query, headers, None) for _, query, headers in BAD_CALLS]
            calls += [
                ("GET", url, [(p["name"], "1"), (p["name"], "2")], {}, None) for p in _scalars(methods["get"])
            ]
    calls += [
        ("GET", "/api/v1/series", [("series", "ampal-mufakat/wl-radar/level"), ("every", "1h")], {}, None),
        ("GET", "/api/v1/series", [("series", "ampal-mufakat/wl-radar/level"), ("limit", "0")], {}, None),
        ("GET", "/api/v1/alerts/active", [("format", "csv")], {}, None),
        ("GET", "/api/v1/sites/no-such-site", [], {}, None),
        ("POST", "/api/v1/reports", [], {"Content-Type": "application/json"}, b'{"lat": 91}'),
        ("POST", "/api/v1/reports", [("knid", "1")], {"Content-Type": "application/json"}, b"{}"),
    ]  # fmt: skip
    checked, wrong = 0, []
    async with httpx.AsyncClient(base_url=served_sqlite.url, timeout=30) as client:
        for method, url, query, extra, body in calls:
            headers = {"Authorization": f"Bearer {KEYS['admin']}"} | extra
            response = await client.request(method, url, params=query, headers=headers, content=body)
            request = MockRequest(
                served_sqlite.url,
                method.lower(),
                url,
                args=ImmutableMultiDict(query),
                headers=Headers(headers),
                data=body,
                content_type=headers.get("Content-Type", "application/json"),
            )
            answer = MockResponse(
                response.content,
                status_code=response.status_code,
                headers=Headers(dict(response.headers)),
                content_type=response.headers.get("content-type", "").split(";")[0],
            )
            try:
                openapi.validate_response(request, answer)
            except Exception as exc:  # noqa: BLE001 - collect every mismatch, with what was asked
                why = f"{exc!r} {exc.__cause__!r}"
                wrong.append(
                    f"{method} {url} {query} {extra}: {response.status_code} {why} {response.text[:200]}"
                )
            checked += 1
    assert wrong == [], "\n".join(wrong[:20])
    assert checked > 60


def _scalars(operation: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter["in"] == "query" and all(
            v.get("type") != "array" for v in [schema, *schema.get("anyOf", [])]
        ):
            out.append(parameter)
    return out
