"""Issue 16, defects 2 and 3, against a real `pantau backend run` process (ingest and API in one process, as
shipped): six concurrent 50 MB POSTs to /api/v1/reports without a key each got 401 only after the backend
had read them, and its resident memory reached 805 MB; 300 wrong keys in 2 s all got 401. Now the bodies are
refused by their headers (the 401 comes before any of the body is sent; the senders then push all of
it), the process's peak memory (VmHWM, from /proc) grows by less than BOUND_MIB, and wrong keys past the
tenth are answered 429."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest
import yaml

from tests.backend.api.attack import send_head_then_body
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port, wait_until

pytestmark = pytest.mark.services  # a backend process

#: What six refused 50 MB bodies and 300 refused keys may add to the backend's peak resident memory.
BOUND_MIB: Final = 32
FIFTY_MB: Final = 50 * 1_048_576
KEY: Final = "rp-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture
def backend(mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`pantau backend run` with the API on a free port (SQLite storage, the shipped api.limits)."""
    port = free_port()
    document = {
        "worker_id": "api-memory",
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": mqtt_topic_root},
        "storage": {"sqlite": {"path": str(tmp_path / "pantau.sqlite3")}},
        "spool": {"path": str(tmp_path / "spool.sqlite3")},
        "api": {
            "host": "127.0.0.1",
            "port": port,
            "keys": [
                {"name": "reporter", "role": "report", "key_sha256": hashlib.sha256(KEY.encode()).hexdigest()}
            ],
        },
    }
    config = tmp_path / "backend.yaml"
    config.write_text(yaml.safe_dump(document))
    log = tmp_path / "backend.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pantau", "backend", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def live() -> bool:
        assert process.poll() is None, f"the backend exited at start:\n{log.read_text()}"
        try:
            return httpx.get(f"{url}/api/v1/health/live", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        assert wait_until(live, timeout=30), log.read_text()
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(20)


async def test_large_unauthenticated_bodies_are_refused_unread_within_a_memory_bound(
    backend: tuple[str, int],
) -> None:
    url, pid = backend
    before = memory_kib(pid, "VmHWM")
    answers = await asyncio.gather(
        *(
            send_head_then_body(url, "/api/v1/reports", {"Content-Length": str(FIFTY_MB)}, FIFTY_MB)
            for _ in range(6)
        )
    )
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        guesses = [
            (await client.get("/api/v1/sites", headers={"Authorization": f"Bearer guess-{n}"})).status_code
            for n in range(300)
        ]
    after = memory_kib(pid, "VmHWM")
    grown_mib = (after - before) / 1024
    print(f"backend peak RSS {before / 1024:.0f} MiB -> {after / 1024:.0f} MiB (+{grown_mib:.1f} MiB)")
    assert answers == ["HTTP/1.1 401 Unauthorized"] * 6
    assert grown_mib < BOUND_MIB
    assert guesses.count(401) <= 11 and guesses.count(429) >= 289, "10 failures at once, then one every 10 s"
