"""Issue 16, defects 2 and 3, at the HTTP surface (real uvicorn, in this process, the limiters on a virtual
clock): keys are checked before a body is read, bodies are capped per route, failed keys and writes are
rate limited per client with 429 and Retry-After. The shipped defaults are what is tested here.
(tests/backend/test_api_memory.py runs the same attack against a real `pantau backend run` process.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from backend.api.app import create_app
from backend.api.auth import hash_key
from backend.config.api import ApiConfig
from backend.storage.sqlite import SqliteStorage
from pantau.resilience import VirtualClock
from tests.backend.api import dataset
from tests.backend.api.attack import send_head_then_body
from tests.backend.api.conftest import KEYS, serve

pytestmark = pytest.mark.services  # uvicorn listens on a socket

T0 = datetime(2026, 12, 1, tzinfo=UTC)
REPORT = {"lat": -1.2379, "lon": 116.8529, "depth_cm": 20}


def shipped_limits_config() -> ApiConfig:
    keys = [
        {"name": f"{role}-client", "role": role, "key_sha256": hash_key(key)} for role, key in KEYS.items()
    ]
    return ApiConfig.model_validate({"keys": keys, "public": ["health", "latest", "inventory"]})


@pytest.fixture
async def api(sqlite_storage: SqliteStorage) -> AsyncIterator[tuple[str, VirtualClock]]:
    clock = VirtualClock(T0)
    app = create_app(
        shipped_limits_config(),
        sqlite_storage,
        dataset.inventory(),
        None,
        clock=lambda: dataset.NOW,
        timer=clock,
    )
    async with serve(app) as url:
        yield url, clock
    await clock.aclose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_repeated_wrong_keys_are_answered_429_until_the_bucket_refills(
    api: tuple[str, VirtualClock],
) -> None:
    url, clock = api
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        # Twenty at a time (each request takes tens of milliseconds on a loaded machine).
        guesses = asyncio.Semaphore(20)

        async def guess(n: int) -> httpx.Response:
            async with guesses:
                return await client.get("/api/v1/sites", headers=bearer(f"guess-{n}"))

        answers = await asyncio.gather(*(guess(n) for n in range(300)))
        statuses = [a.status_code for a in answers]
        # The shipped default: 10 failures at once, then one every 10 s (virtual time stands still here).
        assert (statuses.count(401), statuses.count(429)) == (10, 290)
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "10"
        assert refused.json()["detail"] == "too many failed API keys from this address"
        # While locked, a right key is refused too (no oracle for a guesser), anonymous public reads pass.
        assert (await client.get("/api/v1/sites", headers=bearer(KEYS["read"]))).status_code == 429
        assert (await client.get("/api/v1/sites")).status_code == 200
        # An anonymous write is a failed authentication as well.
        assert (await client.post("/api/v1/reports", json=REPORT)).status_code == 429

        await clock.advance(10)
        assert (await client.get("/api/v1/sites", headers=bearer(KEYS["read"]))).status_code == 200
        assert (await client.get("/api/v1/sites", headers=bearer("guess"))).status_code == 401
        assert (await client.get("/api/v1/sites", headers=bearer(KEYS["read"]))).status_code == 429


async def test_writes_are_limited_per_key(api: tuple[str, VirtualClock]) -> None:
    url, clock = api
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        reporter, other = bearer(KEYS["report"]), bearer(KEYS["operator"])
        statuses = [
            (await client.post("/api/v1/reports", json=REPORT, headers=reporter)).status_code
            for _ in range(31)
        ]
        assert statuses == [201] * 30 + [429], "the shipped default: 30 at once, then one a second"
        refused = await client.post("/api/v1/reports", json=REPORT, headers=reporter)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
        assert (await client.post("/api/v1/reports", json=REPORT, headers=other)).status_code == 201
        assert (await client.get("/api/v1/sites", headers=reporter)).status_code == 200, (
            "reads are not writes"
        )
        await clock.advance(1)
        assert (await client.post("/api/v1/reports", json=REPORT, headers=reporter)).status_code == 201


async def test_bodies_are_refused_by_their_headers_before_they_are_read(
    api: tuple[str, VirtualClock],
) -> None:
    url, _clock = api
    fifty_mb = 50 * 1_048_576
    # Without a key: 401 before any of the 50 MB is sent.
    status = await send_head_then_body(url, "/api/v1/reports", {"Content-Length": str(fifty_mb)}, fifty_mb)
    assert status == "HTTP/1.1 401 Unauthorized"
    # With a key that may write: the route's cap (16 KiB for reports) answers 413 just as early.
    status = await send_head_then_body(
        url, "/api/v1/reports", {"Content-Length": str(fifty_mb)} | bearer(KEYS["report"]), fifty_mb
    )
    assert status.startswith("HTTP/1.1 413 ")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        operator = bearer(KEYS["operator"])
        big_ack = await client.post(
            "/api/v1/alerts/x/acknowledge", content=b"{" + b" " * 5000 + b"}", headers=operator
        )
        assert big_ack.status_code == 413
        assert big_ack.json()["detail"] == "the body may be at most 4096 bytes on this route"

        async def chunked() -> AsyncIterator[bytes]:
            yield b'{"lat": 0, "lon": 0, "depth_cm": 1}'

        streamed = await client.post("/api/v1/reports", content=chunked(), headers=bearer(KEYS["report"]))
        assert streamed.status_code == 411
        assert (
            await client.post("/api/v1/reports", json=REPORT, headers=bearer(KEYS["report"]))
        ).status_code == 201
