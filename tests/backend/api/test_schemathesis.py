"""Schemathesis fuzzes the published OpenAPI schema against the live API (real uvicorn, data ingested for
real): no server errors; every status, content type, header and body as documented. Bounded: a few
examples per operation and mode, derandomized.

Requests go through httpx, not schemathesis' own `requests` transport: grafana-client pulls in
urllib3-future, which replaces the `urllib3` module with one schemathesis' transport cannot inspect.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.backend.api.conftest import KEYS, Served

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 10


@pytest.mark.parametrize("role", ["admin", None])
async def test_openapi_schema_holds_under_fuzzing(served: Served, role: str | None) -> None:
    headers = {"Authorization": f"Bearer {KEYS[role]}", "X-API-Key": KEYS[role]} if role else {}
    failures, answered = await asyncio.to_thread(fuzz, served, headers)
    assert not failures, "\n\n".join(failures[:10])
    if role == "admin":
        # The fuzzing reached the handlers, not only the validation in front of them: every read of a
        # collection (no id in its path) answered at least one generated request with data.
        schema = served.app.openapi()
        collections = {
            f"GET {path}" for path, methods in schema["paths"].items() if "get" in methods and "{" not in path
        }
        assert collections - answered == set(), "never answered 2xx under fuzzing"


def fuzz(served: Served, headers: dict[str, str]) -> tuple[list[str], set[str]]:
    """Run every operation in both generation modes; the failures, as curl commands with the reason, and
    the operations (`GET /path`) that answered some request with a 2xx."""
    schema = schemathesis.openapi.from_dict(served.app.openapi())
    failures: list[str] = []
    answered: set[str] = set()
    with httpx.Client(timeout=30) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in GenerationMode:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def check(case: Case) -> None:
                    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url=served.url, headers=headers)
                    try:
                        response = client.request(
                            kwargs["method"],
                            kwargs["url"],
                            params=kwargs.get("params"),
                            headers=kwargs.get("headers"),
                            json=kwargs.get("json"),
                            content=kwargs.get("data"),
                        )
                    except httpx.LocalProtocolError:  # httpx refuses to send it (a header like "Bearer ")
                        return
                    if response.is_success:
                        answered.add(f"{case.method.upper()} {case.path}")
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except (AssertionError, FailureGroup) as exc:  # one failure, or a group: record, go on
                        failures.append(f"{case.as_curl_command()}\n-> {response.status_code} {exc}")

                try:
                    check()
                except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                    assert mode is GenerationMode.NEGATIVE, operation.label
    return failures, answered
