"""`pantau demo` end to end, as a user runs it: a child process, checked only through its HTTP API.

Everything is real: the simulators, the virtual serial cables, the embedded amqtt broker, both gateways,
the backend with rules and API. Ports are free loopback ports; the working folder is the test's own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.process import free_port, port_open, wait_until

#: The issue's promise: readings, vehicles and an alert within two minutes of starting.
WITHIN_S = 120.0
STOP_WITHIN_S = 30.0


class DemoProcess:
    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.log = workdir / "demo.log"
        env = {**os.environ, "TMPDIR": str(workdir)}  # the default working folder lands where we can see it
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pantau", "demo", "--port", str(self.port), "--mqtt-port", "0", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                start_new_session=True,  # its own process group: we can tell whether anything is left
            )
        self.api = f"http://127.0.0.1:{self.port}/api/v1"

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.api + path, params=params, timeout=5.0)
        response.raise_for_status()
        return response.json()

    def wait_for(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        def ok() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the demo exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return check()
            return False

        if not wait_until(ok, max(deadline - time.monotonic(), 0.0), interval=1.0):
            pytest.fail(f"no {what} within {WITHIN_S:.0f} s:\n{self.tail()}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code once it has stopped."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo did not stop within {STOP_WITHIN_S:.0f} s of Ctrl-C:\n{self.tail()}")

    def nothing_left(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., DemoProcess]]:
    started: list[DemoProcess] = []

    def start(*args: str) -> DemoProcess:
        demo = DemoProcess(tmp_path, *args)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.kill()


@pytest.mark.timeout(WITHIN_S + 3 * STOP_WITHIN_S)
def test_the_api_has_readings_vehicles_and_an_alert_within_two_minutes(
    start_demo: Callable[..., DemoProcess], tmp_path: Path
) -> None:
    deadline = time.monotonic() + WITHIN_S
    # --duration only as a backstop: the test stops it with Ctrl-C once it has seen what it wants.
    demo = start_demo("--workdir", str(tmp_path / "demo"), "--duration", f"{WITHIN_S + 60:.0f}s")

    def water_levels() -> bool:
        latest = demo.get("/latest", site="ampal-mufakat", quantity="water_level")["latest"]
        return {row["device"] for row in latest if row["value"] is not None} == {"wl-radar", "wl-pressure"}

    def vehicles() -> bool:
        return bool(demo.get("/vehicles", site="soekarno-hatta-km13")["vehicles"])

    def alerts() -> bool:
        return any(a["state"] == "firing" for a in demo.get("/alerts/active")["alerts"])

    demo.wait_for("water level readings from both gauges", water_levels, deadline)
    demo.wait_for("vehicles", vehicles, deadline)
    demo.wait_for("firing alert", alerts, deadline)

    demo.wait_for("alert line in the output", lambda: "alert firing" in demo.log.read_text(), deadline)
    sites = {site["id"] for site in demo.get("/sites")["sites"]}
    assert sites == {"ampal-mufakat", "soekarno-hatta-km13"}
    assert demo.interrupt() == 0, demo.tail()
    assert wait_until(demo.nothing_left, STOP_WITHIN_S)
    assert not port_open("127.0.0.1", demo.port)
    # The working folder given is kept, with the files a technician could run by hand.
    assert (tmp_path / "demo" / "backend.yaml").is_file()
    assert (tmp_path / "demo" / "sites" / "ampal-mufakat.yaml").is_file()


@pytest.mark.timeout(WITHIN_S)
@pytest.mark.parametrize("how", ["ctrl-c", "duration"])
def test_it_stops_cleanly(start_demo: Callable[..., DemoProcess], tmp_path: Path, how: str) -> None:
    if how == "ctrl-c":
        demo = start_demo()
        demo.wait_for(
            "answer from the API", lambda: demo.get("/health/live") is not None, time.monotonic() + 60
        )
        assert len(list(tmp_path.glob("pantau-demo-*"))) == 1, "no temporary folder where TMPDIR points"
        assert demo.interrupt() == 0, demo.tail()
    else:
        demo = start_demo("--duration", "10s")
        assert demo.process.wait(STOP_WITHIN_S + 30) == 0, demo.tail()
        assert "demo duration of 10 s is over" in demo.log.read_text()
    assert wait_until(demo.nothing_left, STOP_WITHIN_S)
    assert not port_open("127.0.0.1", demo.port)
    assert "pantau demo stopped." in demo.log.read_text()
    assert "Traceback" not in demo.log.read_text(), demo.tail()
    # Without --workdir the demo worked in a temporary folder and removed it.
    assert not list(tmp_path.glob("pantau-demo-*"))
