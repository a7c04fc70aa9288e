"""The API's front door as an ASGI app around a stand-in route (no socket: the fast lane). The HTTP-level
tests are test_limits.py and test_limits_process.py; these cover what a real route cannot be made to do on
cue: stay in flight until told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from backend.api.auth import KeyRing, hash_key
from backend.api.guard import Guard
from backend.config.api import ApiConfig
from pantau.resilience import VirtualClock

KEY = "op-5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"


def request(method: str = "GET", path: str = "/api/v1/sites", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("192.0.2.7", 50000),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "http_version": "1.1",
    }


async def answer(guard: Guard, scope: dict[str, Any]) -> tuple[int, dict[str, str]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the guard read the body")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await guard(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def guarded(route: Any, **limits: Any) -> Guard:
    config = ApiConfig.model_validate(
        {"keys": [{"name": "ops", "role": "operator", "key_sha256": hash_key(KEY)}], "limits": limits}
    )
    return Guard(
        route,
        keys=KeyRing(config),
        limits=config.limits,
        clock=VirtualClock(datetime(2026, 12, 1, tzinfo=UTC)),
    )


async def test_beyond_max_concurrency_requests_get_503_and_the_count_comes_back() -> None:
    release = asyncio.Event()

    async def slow_route(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = guarded(slow_route, max_concurrency=1)
    first = asyncio.create_task(answer(guard, request()))
    async with asyncio.timeout(5):
        while guard.in_flight == 0:
            await asyncio.sleep(0)
    status, headers = await answer(guard, request())
    assert (status, headers["retry-after"], headers["content-type"]) == (503, "1", "application/problem+json")
    release.set()
    assert (await first)[0] == 200
    assert guard.in_flight == 0
    assert (await answer(guard, request()))[0] == 200


async def test_body_headers_are_judged_without_reading_the_body() -> None:
    async def route(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = guarded(route)
    auth = {"authorization": f"Bearer {KEY}"}
    path = "/api/v1/alerts/a/acknowledge"
    assert (await answer(guard, request("POST", path, content_length="4097", **auth)))[0] == 413
    assert (await answer(guard, request("POST", path, content_length="4096", **auth)))[0] == 204
    assert (await answer(guard, request("POST", path, content_length="12abc", **auth)))[0] == 400
    assert (await answer(guard, request("POST", path, transfer_encoding="chunked", **auth)))[0] == 411
    assert (await answer(guard, request("POST", "/api/v1/other", content_length="1025", **auth)))[0] == 413
    status, headers = await answer(guard, request("POST", path, content_length="10"))
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="pantau"')
    # The page's own paths do not look at keys: a stray header there is no failed authentication.
    assert (await answer(guard, request("GET", "/", authorization="Bearer nonsense")))[0] == 204
