"""Where a backend worker's time goes: one worker, in this process, drains a queue under cProfile.

For bench/ingest_throughput.py `--profile`: the functions with the most time of their own, and the main
stages by cumulative time, as text for the report. cProfile sees the event loop's thread (MQTT reading,
decoding, points, line protocol, HTTP); the spool's SQLite commits run in worker threads it does not see.
Its overhead slows everything it measures about twofold: the shares, not the seconds, are the figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import pstats
from pathlib import Path
from typing import Final

from backend.config import BackendConfig
from backend.worker import BackendWorker
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto

#: Lines of each listing in the report.
TOP: Final = 22
ROOT: Final = Path(__file__).resolve().parents[1]


async def _drain(config: BackendConfig, points: int, profile: cProfile.Profile) -> None:
    worker = BackendWorker(config)
    profile.enable()
    task = asyncio.create_task(worker.run())
    try:
        while worker.writer.stats.points_written_total < points:
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
    finally:
        profile.disable()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def profile_drain(config: BackendConfig, points: int) -> str:
    """Run one worker until it has stored `points`; its profile as text."""
    profile = cProfile.Profile()
    asyncio.run(_drain(config, points, profile))
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    stats.sort_stats("cumulative").print_stats(TOP)
    return _trimmed(out.getvalue())


def worker_config(
    broker: Mosquitto, influxd: Influxd, work: Path, prefix: str, client_id: str
) -> BackendConfig:
    return BackendConfig.model_validate({
        "worker_id": client_id,
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix, "protocol": 311,
                 "client_id": client_id},
        "storage": {"influx": {"url": influxd.url, "database": "bench_profile"}},
        "spool": {"path": str(work / "profile-spool.sqlite3")},
        "rollups": {"enabled": False},
    })  # fmt: skip


def _trimmed(text: str) -> str:
    # Paths down to what a reader needs (site-packages/paho/... , backend/..., the standard library's name).
    lines = []
    for raw in text.splitlines():
        line = raw
        for marker in ("site-packages/", "/python3.11/"):
            if marker in line:
                head, _, tail = line.partition(marker)
                line = head[: head.rfind(" ") + 1] + tail
        lines.append(line.replace(f"{ROOT}/", ""))
    return "\n".join(line for line in lines if line.strip())
