"""Where an API request's time goes, for bench/api_latency.py `--profile`.

The app runs in this process behind httpx's ASGI transport (no socket, no other client): each route is
asked `REPEAT` times alone and timed, then once more under cProfile. cProfile sees the event loop's thread
(routing, parameter checks, the response models, JSON); SQLite's reader runs in a thread of its own, which
cProfile does not see: the loop's wait for it is the wall time the profile does not account for. The
profile's overhead slows what it measures: read the shares, not the seconds.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import time
from pathlib import Path
from typing import Final

import httpx

from backend.api.app import create_app
from backend.config.api import ApiConfig
from backend.inventory import SiteInventory
from backend.storage.model import Storage

REPEAT: Final = 3
TOP: Final = 18
ROOT: Final = Path(__file__).resolve().parents[1]


async def profile_routes(
    settings: ApiConfig, storage: Storage, key: str, requests: dict[str, dict[str, str]]
) -> str:
    """`requests`: route -> query parameters. Returns the timings and profiles as text for the report."""
    await storage.setup()
    app = create_app(settings, storage, SiteInventory([]), None)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    out = []
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers, timeout=300
        ) as http:
            for route, params in requests.items():
                walls = []
                for _ in range(REPEAT):
                    started = time.perf_counter()
                    answer = await http.get(f"/api/v1/{route}", params=params)
                    walls.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:  # a refusal is a finding: say what it was, profile the rest
                    out.append(
                        f"--- GET /{route}: HTTP {answer.status_code} {answer.text[:300]}: not profiled"
                    )
                    continue
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.enable()
                answer = await http.get(f"/api/v1/{route}", params=params)
                profiler.disable()
                profiled_ms = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                timings = ", ".join(f"{ms:.0f}" for ms in walls)
                out.append(
                    f"--- GET /{route}: {timings} ms alone ({len(answer.content):,} bytes); under the "
                    f"profiler {profiled_ms:.0f} ms, of it on the event loop's thread:"
                )
                out.append(_stats(profiler))
    finally:
        await storage.close()
    return "\n".join(out)


def _stats(profiler: cProfile.Profile) -> str:
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(TOP)
    # Paths relative to the repository and the environment: the report is read on other machines.
    lines = text.getvalue().replace(str(ROOT) + "/", "").splitlines()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def run(settings: ApiConfig, storage: Storage, key: str, requests: dict[str, dict[str, str]]) -> str:
    return asyncio.run(profile_routes(settings, storage, key, requests))
