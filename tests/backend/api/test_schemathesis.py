"""Schemathesis fuzzes the published OpenAPI schema against the live API (real uvicorn, data ingested for
real): no server errors; every status, content type, header and body as documented. Bounded: a few
examples per operation and mode, derandomized. Each generated request goes out twice, with an admin key and
without credentials: the same requests either way (derandomized), generated once.

Requests go through httpx, not schemathesis' own `requests` transport: grafana-client pulls in
urllib3-future, which replaces the `urllib3` module with one schemathesis' transport cannot inspect.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
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
#: Who sends each generated request: an admin, and someone without credentials.
ROLES: dict[str, dict[str, str]] = {
    "admin": {"Authorization": f"Bearer {KEYS['admin']}", "X-API-Key": KEYS["admin"]},
    "anonymous": {},
}


async def test_openapi_schema_holds_under_fuzzing(served: Served) -> None:
    failures, answered = await asyncio.to_thread(fuzz, served)
    assert not failures, "\n\n".join(failures[:10])
    # The fuzzing reached the handlers, not only the validation in front of them: every read of a
    # collection (no id in its path) answered at least one generated request of the admin's with data.
    schema = served.app.openapi()
    collections = {
        f"GET {path}" for path, methods in schema["paths"].items() if "get" in methods and "{" not in path
    }
    assert collections - answered["admin"] == set(), "never answered 2xx under fuzzing"


def fuzz(served: Served) -> tuple[list[str], dict[str, set[str]]]:
    """Run every operation in both generation modes, each request as every one of ROLES; the failures, as
    curl commands with the role and the reason, and per role the operations (`GET /path`) that answered
    some request with a 2xx."""
    schema = schemathesis.openapi.from_dict(served.app.openapi())
    failures: list[str] = []
    answered: dict[str, set[str]] = {role: set() for role in ROLES}
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
                    for role, headers in ROLES.items():
                        send(case, role, headers)

                def send(case: Case, role: str, headers: dict[str, str]) -> None:
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
                        answered[role].add(f"{case.method.upper()} {case.path}")
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except (AssertionError, FailureGroup) as exc:  # one failure, or a group: record, go on
                        failures.append(f"{role}: {case.as_curl_command()}\n-> {response.status_code} {exc}")

                try:
                    check()
                except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                    assert mode is GenerationMode.NEGATIVE, operation.label
    return failures, answered
