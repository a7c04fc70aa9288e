"""`pantau demo` end to end, as a user runs it: a child process, checked only through its HTTP API.

Everything is real: the simulators, the virtual serial cables, the embedded amqtt broker, both gateways,
the backend with rules and API. Ports are free loopback ports; the working folder is the test's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.process import port_open, wait_until
from tests.pantau_demo.demo_process import STOP_WITHIN_S, WITHIN_S, DemoProcess


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
        # Five seconds: the demo's API answers within about two (the ctrl-c case waits for it), so every
        # part is running when the duration ends it.
        demo = start_demo("--duration", "5s")
        assert demo.process.wait(STOP_WITHIN_S + 30) == 0, demo.tail()
        assert "demo duration of 5 s is over" in demo.log.read_text()
    assert wait_until(demo.nothing_left, STOP_WITHIN_S)
    assert not port_open("127.0.0.1", demo.port)
    assert "pantau demo stopped." in demo.log.read_text()
    assert "Traceback" not in demo.log.read_text(), demo.tail()
    # Without --workdir the demo worked in a temporary folder and removed it.
    assert not list(tmp_path.glob("pantau-demo-*"))
