"""The live page against a running `pantau demo` (a child process, as a user starts it): the site list and
the level charts render with the demo's data; the screenshot is kept as an artifact (and is the one
docs/img/live-page.png is taken from)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.backend.api.page.chromium import chromium
from tests.backend.api.page.conftest import ARTIFACTS, RIVER, ROAD
from tests.backend.api.page.facts import SHOWING_DATA, load, png_size
from tests.harness.process import free_port

pytestmark = pytest.mark.services  # `pantau demo` and Chromium in child processes

#: The demo promises readings, vehicles and an alert within two minutes; a loaded CI machine gets margin.
DATA_WITHIN_S: Final = 150.0
STOP_WITHIN_S: Final = 30.0


@contextlib.asynccontextmanager
async def running_demo(workdir: Path) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`pantau demo` on free loopback ports until the block ends (Ctrl-C, then SIGKILL to its group)."""
    port = free_port()
    await asyncio.to_thread(workdir.mkdir, parents=True)
    log = (workdir / "demo.log").open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once
        [sys.executable, "-m", "pantau", "demo", "--port", str(port), "--mqtt-port", "0",
         "--workdir", str(workdir / "files"), "--duration", "300s"],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
        log.close()


async def demo_has_data(url: str) -> bool:
    """Both gauges read, trucks judged, an alert firing: the storm is under way."""
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=5) as client:
        try:
            latest = (await client.get("/latest", params={"site": RIVER, "quantity": "water_level"})).json()
            vehicles = (await client.get("/vehicles", params={"site": ROAD})).json()
            alerts = (await client.get("/alerts/active")).json()
        except (httpx.HTTPError, ValueError):
            return False
    gauges = {row["device"] for row in latest.get("latest", []) if row["value"] is not None}
    judged = [v for v in vehicles.get("vehicles", []) if v["verdict"] is not None]
    firing = [a for a in alerts.get("alerts", []) if a["state"] == "firing"]
    return gauges >= {"wl-radar", "wl-pressure"} and bool(judged) and bool(firing)


@pytest.mark.timeout(DATA_WITHIN_S + 150)
async def test_live_page_shows_the_running_demo(tmp_path: Path) -> None:
    async with running_demo(tmp_path / "demo") as (url, process):
        deadline = asyncio.get_running_loop().time() + DATA_WITHIN_S
        while not await demo_has_data(url):
            log = (tmp_path / "demo" / "demo.log").read_text(errors="replace")
            if process.poll() is not None:
                pytest.fail(f"the demo exited with {process.returncode}:\n{log[-3000:]}")
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"the demo had no storm data within {DATA_WITHIN_S:.0f} s:\n{log[-3000:]}")
            await asyncio.sleep(1)
        async with chromium(tmp_path / "chromium" / "profile") as tab:
            facts = await load(tab, url + "/", ready=SHOWING_DATA)
            shot = await tab.screenshot(ARTIFACTS / "live-page-demo.png")
            errors = list(tab.errors)

    assert errors == [], errors
    assert {s["site"] for s in facts["sites"]} == {RIVER, ROAD}
    assert all(s["data"] for s in facts["sites"]), facts["sites"]
    charts = {c["series"]: c for c in facts["charts"]}
    assert {f"{RIVER}/wl-radar/level", f"{RIVER}/wl-pressure/level"} <= set(charts)
    for series, chart in charts.items():
        assert chart["points"] > 0 and chart["bands"], chart
        device_channel = series.split("/", 1)[1]  # two charts of one device must tell which channel
        assert device_channel in chart["caption"], chart
    assert facts["trucks"] and set(facts["trucks"]) <= {"ok", "tolerated", "violation", "unknown"}
    # The demo's WIM scale reports no tyres (the generic WIM CSV): its configurations are assumed, and say so.
    assert any("wim-1" in row and "tyres assumed" in row for row in facts["truckRows"]), facts["truckRows"]
    assert facts["alerts"], "a firing alert in the API but none on the page"
    assert png_size(shot)[0] == 1440
