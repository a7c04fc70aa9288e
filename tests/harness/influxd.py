"""A private InfluxDB 1.x (`influxd`) serving the v1 HTTP API on a free loopback port."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.harness.process import ServiceProcess, free_port


class Influxd(ServiceProcess):
    name = "influxd"
    start_timeout = 60.0

    def __init__(self, workdir: Path, binary: str, *, max_row_limit: int = 0) -> None:
        self.binary = binary
        # [http] max-row-limit: the most rows influxd returns for one query (0 = its default, unlimited).
        self.max_row_limit = max_row_limit
        self.host = "127.0.0.1"
        super().__init__(workdir)

    def pick_ports(self) -> None:
        self.port = free_port(self.host)
        self.rpc_port = free_port(self.host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "influxdb.conf"

    def prepare(self) -> None:
        data = self.workdir / "var"
        self.config_path.write_text(
            f"""
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{data}/meta"

[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
  pprof-enabled = false
  max-row-limit = {self.max_row_limit}

[continuous_queries]
  log-enabled = false
"""
        )

    def command(self) -> Sequence[str]:
        return [self.binary, "-config", str(self.config_path)]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    # Small admin helpers for tests; product code has its own client.
    def query(self, q: str, db: str | None = None, *, method: str = "GET") -> dict[str, Any]:
        params = {"q": q} | ({"db": db} if db else {})
        response = httpx.request(method, f"{self.url}/query", params=params, timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        for result in body.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL error for {q!r}: {result['error']}")
        return body

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"', method="POST")
