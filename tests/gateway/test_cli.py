"""`pantau gateway check|status` as a technician runs them on site."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gateway.runtime import Gateway, RuntimeOptions
from pantau.site.config import load_site
from tests.gateway.conftest import FieldSite
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port

pytestmark = pytest.mark.services  # `python -m pantau gateway` in a child process

REPO = Path(__file__).resolve().parents[2]
SITES = REPO / "firmware_configs" / "sites"


def pantau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pantau", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_shipped_site_configs_check_out() -> None:
    for site in sorted(SITES.glob("*.yaml")):
        result = pantau("gateway", "check", "--config", str(site))
        assert result.returncode == 0, result.stderr
        assert ": ok — site" in result.stdout


def test_errors_name_file_bus_device_and_field(tmp_path: Path) -> None:
    document = yaml.safe_load((SITES / "ampal-mufakat.yaml").read_text())
    devices = document["buses"][0]["devices"]
    devices[0]["params"] = {}  # radar without its mounting height
    devices[1]["profile"] = "qdy31b"  # no such profile
    devices[2]["poll_interval"] = "10ms"
    bad = tmp_path / "ampal.yaml"
    bad.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = pantau("gateway", "check", "--config", str(bad))
    assert result.returncode == 1
    assert re.search(
        rf"{re.escape(str(bad))}:\d+:\d+: buses\[0\] 'rs485-1'\.devices\[2\] 'rain'\.poll_interval: "
        "poll_interval below 100ms",
        result.stderr,
    ), result.stderr
    devices[2]["poll_interval"] = "1m"
    bad.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = pantau("gateway", "check", "--config", str(bad))
    assert re.search(
        rf"{re.escape(str(bad))}:\d+:\d+: buses\[0\] 'rs485-1'\.devices\[0\] 'wl-radar'\.params: "
        "profile vegapuls-c21 computes 'level_from_distance' from site parameter 'mounting_height_m', "
        "which is not set",
        result.stderr,
    ), result.stderr
    assert "buses[0] 'rs485-1'.devices[1] 'wl-pressure'.profile: 'qdy31b' is neither a file" in result.stderr


def test_probe_reads_every_device_once(field_site: FieldSite, mosquitto: Mosquitto) -> None:
    site_file = field_site.site_file(mosquitto)
    result = pantau("gateway", "check", "--config", str(site_file), "--probe")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "wl-radar: vegapuls-c21 unit 246",
        "wl-pressure: qdy30a unit 1",
        "rain: deltaohm-hd2016 unit 3",
    ):
        assert line in result.stdout
    assert "level_from_distance" in result.stdout
    assert "good" in result.stdout


def test_probe_fails_when_a_device_does_not_answer(field_site: FieldSite, mosquitto: Mosquitto) -> None:
    field_site.devices["rain"].faults.no_reply = True
    result = pantau("gateway", "check", "--config", str(field_site.site_file(mosquitto)), "--probe")
    assert result.returncode == 1
    assert "timeout" in result.stdout


def test_probe_of_a_bus_whose_port_refuses_its_settings_names_them(
    field_site: FieldSite, mosquitto: Mosquitto
) -> None:
    # On main: a raw termios.error traceback per device, and `internal_error` on every channel.
    site_file = field_site.site_file(mosquitto)
    document = yaml.safe_load(site_file.read_text())
    document["buses"][0]["connection"]["parity"] = "E"  # a pty refuses parity, as some adapters do
    site_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = pantau("gateway", "check", "--config", str(site_file), "--probe")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal_error" not in output
    assert f"cannot open {field_site.port} at 19200 8E1: the port refused these settings" in result.stdout


async def test_status_reads_the_running_gateways_metrics(field_site: FieldSite, mosquitto: Mosquitto) -> None:
    site_file = field_site.site_file(mosquitto)
    port = free_port()
    runtime = Gateway(load_site(site_file), site_file, RuntimeOptions(metrics_address=("127.0.0.1", port)))
    task = asyncio.create_task(runtime.run())
    try:
        # Until the broker is connected and the radar polled (a slow machine takes longer than a fixed wait).
        deadline = time.monotonic() + 30
        while True:
            assert not task.done(), task.exception()
            result = await asyncio.to_thread(
                pantau, "gateway", "status", "--config", str(site_file), "--metrics", f"127.0.0.1:{port}"
            )
            ready = "broker connected" in result.stdout and "device wl-radar: ok" in result.stdout
            if ready or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert result.returncode == 0, result.stderr
    assert "broker connected" in result.stdout
    assert "device wl-radar: ok" in result.stdout
    assert "outbox:" in result.stdout
    assert "clock: plausible" in result.stdout  # the box's clock is after the release date


def test_overrides_that_cannot_work_are_config_errors(tmp_path: Path) -> None:
    document = yaml.safe_load((SITES / "ampal-mufakat.yaml").read_text())
    devices = document["buses"][0]["devices"]
    devices[1]["address_base"] = 1  # qdy30a maps register 0: there is no register -1
    devices[2]["report_on_change"] = {"deadband": {"rain": 0.5}}  # would lose rain
    del devices[0]["unit"]  # the radar answers on its profile's default, 246...
    devices[2]["unit"] = 246  # ...and so would the rain gauge
    bad = tmp_path / "ampal.yaml"
    bad.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = pantau("gateway", "check", "--config", str(bad))
    assert result.returncode == 1
    assert "devices[1] 'wl-pressure'.address_base: " in result.stderr
    assert "register 0 is below address_base" in result.stderr
    assert "report_on_change.deadband.rain: 'rain' is an increment per poll" in result.stderr
    assert "unit ids [246] are used by more than one" in result.stderr
