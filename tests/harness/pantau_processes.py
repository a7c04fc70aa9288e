"""pantau's own processes as services: `pantau gateway run` and `pantau backend run`, started the way
systemd starts them, so a SIGKILL (`kill()`) is a real crash and a restart finds only what was on disk."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from backend.config import BackendConfig
from tests.harness.process import ServiceProcess


class GatewayProcess(ServiceProcess):
    """`pantau gateway run` for one site file (metrics off: the outbox file is the ground truth)."""

    name = "gateway"

    def __init__(self, workdir: Path, site_file: Path) -> None:
        self.site_file = site_file
        super().__init__(workdir)

    def command(self) -> Sequence[str]:
        site = str(self.site_file)
        return [sys.executable, "-m", "pantau", "gateway", "run", "--config", site, "--metrics", "off"]

    def ready(self) -> bool:
        return True  # it polls and queues from its first second, broker or not

    @property
    def exited(self) -> int | None:
        """The exit code of a gateway that stopped by itself (None while it runs or was never started)."""
        process = self._process
        return None if process is None else process.poll()


class BackendProcess(ServiceProcess):
    """`pantau backend run`; ready once its ingest subscription is in place (its log says so)."""

    name = "backend"
    start_timeout = 30.0
    stop_timeout = 20.0

    def __init__(self, workdir: Path, config: BackendConfig) -> None:
        self.config_file = workdir / "backend.yaml"
        self._log_offset = 0
        super().__init__(workdir)
        self.config_file.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))

    def prepare(self) -> None:
        # The log of an earlier run is kept: readiness is read from what this run wrote.
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "pantau", "backend", "run", "--config", str(self.config_file)]

    def ready(self) -> bool:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return b"subscribed at" in log.read()
