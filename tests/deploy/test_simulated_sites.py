"""The compose stack's simulated river site for real: its simulator services' commands serve on loopback,
and the simulated gateway's site file, pointed at them, passes `pantau gateway check --probe` with every
channel good (the probe a technician runs at a real site)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.deploy.compose import DEPLOY, services
from tests.harness.process import free_port, port_open, wait_until

pytestmark = pytest.mark.services  # `pantau simulate` and `pantau gateway` in child processes


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[dict[str, int]]:
    """Each Modbus simulator service of the compose file, run as it is there but on a free loopback port."""
    ports: dict[str, int] = {}
    processes = []
    for name, service in services().items():
        args = list(service.get("command", []))
        if not name.startswith("simulator-") or "generic-wim-csv" in args:
            continue
        port = free_port()
        args[args.index("--tcp") + 1] = f"127.0.0.1:{port}"
        log = (tmp_path / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen([sys.executable, "-m", "pantau", *args], stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()
        ports[name] = port
    try:
        for name, port in ports.items():
            assert wait_until(lambda p=port: port_open("127.0.0.1", p), 30), f"{name} does not listen"
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def test_the_simulated_river_gateway_reads_every_channel_good(
    simulators: dict[str, int], tmp_path: Path
) -> None:
    site = yaml.safe_load((DEPLOY / "sites" / "ampal-mufakat.yaml").read_text())
    for bus in site["buses"]:
        connection = bus["connection"]
        connection["port"] = simulators[connection["host"]]
        connection["host"] = "127.0.0.1"
    site["outbox"]["path"] = str(tmp_path / "outbox.db")
    path = tmp_path / "ampal-mufakat.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True))

    result = subprocess.run(
        [sys.executable, "-m", "pantau", "gateway", "check", "--config", str(path), "--probe"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for device in ("wl-radar", "wl-pressure", "rain"):
        assert f"  {device}: " in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()]
    channels = {row[0]: row for row in rows if {"good", "suspect", "bad", "missing"} & set(row)}
    assert len(channels) >= 15, result.stdout
    # The rain increment needs two polls: a probe reads once, so it is the one channel without a value.
    bad = {name: row for name, row in channels.items() if "good" not in row}
    assert set(bad) == {"rain"} and "no_previous_sample:" in bad["rain"], result.stdout
