"""API settings (`api:` in backend.yaml): where to listen, who may call, how much one call returns.

Keys are stored as SHA-256 digests of high-entropy secrets (generate one with
`python -c "import secrets; print(secrets.token_urlsafe(32))"`, hash with `sha256sum`); the digest comes
from the file (`key_sha256`) or from an environment variable (`key_sha256_env`).
"""

from __future__ import annotations

import os
from datetime import timedelta
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pantau.config import ConfigError, Duration
from pantau.contract.fields import Slug

#: Read-only route groups that may be opened to callers without a key (a public flood map).
RouteGroup = Literal["inventory", "latest", "series", "vehicles", "alerts", "reports", "health", "metrics"]


class Role(IntEnum):
    """Each role includes the ones below it."""

    READ = 1
    REPORT = 2
    OPERATOR = 3
    ADMIN = 4


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKey(ApiModel):
    name: Slug = Field(description="Who holds the key; recorded as the author of reports/acknowledgements")
    role: Literal["read", "report", "operator", "admin"]
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    key_sha256_env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$", description="Environment variable with the digest"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ApiKey:
        if (self.key_sha256 is None) == (self.key_sha256_env is None):
            raise ValueError("give exactly one of key_sha256 and key_sha256_env")
        return self

    @property
    def level(self) -> Role:
        return Role[self.role.upper()]

    def digest(self) -> str:
        """The key's SHA-256 hex digest; ConfigError when its environment variable is unset or malformed."""
        if self.key_sha256 is not None:
            return self.key_sha256
        assert self.key_sha256_env is not None  # noqa: S101 - the validator guarantees one of the two
        value = os.environ.get(self.key_sha256_env, "").strip().lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ConfigError(
                "api.keys",
                [f"{self.name}: environment variable {self.key_sha256_env} holds no sha256 digest"],
            )
        return value


class Caps(ApiModel):
    """Bounds on one response, so one call can neither exhaust the server nor a client."""

    max_rows: int = Field(default=5000, ge=10, le=100_000, description="Rows per page (raw data, vehicles)")
    default_rows: int = Field(default=1000, ge=1, le=100_000)
    max_series: int = Field(default=20, ge=1, le=500, description="Series in one series request")
    max_points: int = Field(default=20_000, ge=100, le=1_000_000, description="Buckets in one aggregate")
    max_raw_span: Duration = Field(default=timedelta(days=7), description="Longest raw-data time range")
    max_span: Duration = Field(default=timedelta(days=400), description="Longest aggregated time range")
    max_vehicles_scanned: int = Field(
        default=200_000, ge=1000, description="Vehicles one statistics request may read"
    )
    latest_lookback: Duration = Field(
        default=timedelta(days=90), description="How far back `latest` looks for a channel's last value"
    )


class ReportSettings(ApiModel):
    nearby_radius_km: float = Field(default=2.0, gt=0, le=50, description="Gauges listed next to a report")
    max_radius_km: float = Field(default=50.0, gt=0, le=500)
    max_age: Duration = Field(default=timedelta(days=7), description="Oldest observation time accepted")


class RateLimit(ApiModel):
    """A token bucket per client: `burst` calls at once, refilled at `per_minute`."""

    burst: int = Field(ge=1, le=100_000, description="Calls a client may make at once")
    per_minute: float = Field(gt=0, le=1_000_000, description="Calls a client regains per minute")


class BodyCaps(ApiModel):
    """Largest request body per route, in bytes; a larger one is refused (413) before it is read."""

    reports: int = Field(default=16_384, ge=1024, le=1_048_576, description="POST /reports")
    acknowledge: int = Field(default=4096, ge=512, le=1_048_576, description="POST /alerts/{id}/acknowledge")
    other: int = Field(default=1024, ge=0, le=1_048_576, description="Any other route")


class Limits(ApiModel):
    """What one client may send and how often, so the API (served in the ingest process) can neither be
    made to exhaust memory nor to starve ingest. The client is its address as the server sees it; behind a
    reverse proxy, start uvicorn with the proxy's address trusted for X-Forwarded-For."""

    body_bytes: BodyCaps = BodyCaps()
    failed_auth: RateLimit = Field(
        default=RateLimit(burst=10, per_minute=6),
        description="Wrong or missing keys per client address; beyond: 429 until the bucket refills",
    )
    writes: RateLimit = Field(
        default=RateLimit(burst=30, per_minute=60), description="Write calls (POST) per API key"
    )
    max_clients: int = Field(
        default=10_000, ge=100, le=1_000_000, description="Clients the limiters remember (oldest forgotten)"
    )
    max_concurrency: int = Field(
        default=64, ge=1, le=10_000, description="Connections served at once; beyond them 503"
    )


class ApiConfig(ApiModel):
    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=8000, ge=1, le=65535)
    keys: list[ApiKey] = []
    public: list[RouteGroup] = Field(
        default=["health"], description="Read-only route groups callable without a key"
    )
    cors_origins: list[str] = Field(default=[], description="Origins allowed to call from a browser")
    caps: Caps = Caps()
    reports: ReportSettings = ReportSettings()
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _unique_names(self) -> ApiConfig:
        names = [key.name for key in self.keys]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"key names must be unique: {', '.join(duplicates)}")
        if self.caps.default_rows > self.caps.max_rows:
            raise ValueError("caps.default_rows must not exceed caps.max_rows")
        return self
