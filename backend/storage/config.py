"""Storage configuration (the `storage:` section of backend.yaml). Secrets come from the environment."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from backend.storage.model import LONG_RETENTION
from pantau.config import ConfigError, Duration


class StorageModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InfluxConfig(StorageModel):
    """InfluxDB through the v1-compatible HTTP API.

    1.x: `username` + `password_env` (or no auth). 2.x: the 1.x compatibility API with `token_env`
    (a v2 API token) and a DBRP mapping of `database`/`retention_policy_*` onto buckets. 3.x Core/Enterprise:
    `token_env`, `database` = the database name. Set `manage_database: false` where the server has no
    CREATE DATABASE / RETENTION POLICY (2.x, 3.x): buckets and their retention are then set up outside.
    """

    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", description="e.g. http://127.0.0.1:8086")
    database: str = Field(default="pantau", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    retention_policy_raw: str = Field(default="pantau_raw", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    retention_policy_long: str = Field(default="pantau_long", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    manage_database: bool = True
    username: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    timeout: Duration = timedelta(seconds=10)
    gzip: bool = True
    max_points_per_request: int = Field(default=5000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Before compression")
    retry_for: Duration = Field(
        default=timedelta(seconds=30),
        description="How long one write retries transient failures before reporting storage unavailable",
    )
    verify_tls: bool = True

    @model_validator(mode="after")
    def _one_auth(self) -> InfluxConfig:
        if self.token_env and (self.username or self.password_env):
            raise ValueError("give token_env (InfluxDB 2.x/3.x) or username/password_env (1.x), not both")
        return self

    def secret(self, env: str | None) -> SecretStr | None:
        if env is None:
            return None
        value = os.environ.get(env)
        if value is None:
            raise ConfigError("storage.influx", [f"environment variable {env} is not set"])
        return SecretStr(value)


class SqliteConfig(StorageModel):
    path: Path = Path("var/pantau.sqlite3")


class RetentionConfig(StorageModel):
    """How long each class of measurement is kept (docs/storage.md "Retention and rollups" has the disk
    budget). Both are bounded by default, so an unattended site never fills its disk; `long: null` keeps
    vehicles, alerts and rollups for ever where an operator must, and then owns the disk that takes."""

    raw: Duration = Field(
        default=timedelta(days=90),
        description="Readings and status (gateway, device, backend) at full resolution",
    )
    long: Duration | None = Field(
        default=LONG_RETENTION,
        description="Rollups, vehicles and verdicts, alerts, scale drift, citizen reports; null = forever",
    )


class StorageConfig(StorageModel):
    """`influx` when configured, else the embedded SQLite database."""

    backend: Literal["influx", "sqlite"] = "sqlite"
    influx: InfluxConfig | None = None
    sqlite: SqliteConfig = SqliteConfig()
    retention: RetentionConfig = RetentionConfig()

    @model_validator(mode="before")
    @classmethod
    def _influx_when_configured(cls, data: object) -> object:
        if isinstance(data, dict) and "backend" not in data and data.get("influx"):
            return {**data, "backend": "influx"}
        return data

    @model_validator(mode="after")
    def _influx_needs_settings(self) -> StorageConfig:
        if self.backend == "influx" and self.influx is None:
            raise ValueError("backend 'influx' needs an `influx:` section with at least `url`")
        # An `influx:` section under `backend: sqlite` would be read by nothing, and its operator would
        # believe the readings go to InfluxDB. (`sqlite:` next to `influx:` is the documented fallback.)
        if self.backend == "sqlite" and self.influx is not None:
            raise ValueError("influx: not used with backend 'sqlite'; remove it, or say `backend: influx`")
        return self
