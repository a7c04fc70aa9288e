"""Backend config (`backend.yaml`): the worker's identity, its broker, storage, spool and dead-letter store.

Every setting has its default here and nowhere else; `firmware_configs/backend.example.yaml` shows them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from backend.config.api import ApiConfig
from backend.config.notifiers import NotifierConfig
from backend.storage.config import StorageConfig
from pantau.config import Duration, load_yaml_model
from pantau.config.mqtt import MqttConnection
from pantau.contract.fields import Slug

#: How far ahead of its arrival a message's time may be. Gateways keep time by NTP or GPS (milliseconds);
#: an RTC left to itself drifts up to ~20 ppm, ten minutes a year. Five minutes tolerates a gateway a few
#: months off NTP and bounds what a fast clock can do to the rules: a series' order by time can run at
#: most this far ahead of the real readings.
DEFAULT_CLOCK_SKEW: Final = timedelta(minutes=5)


class BackendModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendMqtt(MqttConnection):
    """The ingest subscription. Client id defaults to `pantau-{worker_id}`: it must be stable across
    restarts, because the broker keeps the worker's queue under it while the worker is down."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    shared_group: Slug | None = Field(
        default=None,
        description="MQTT v5 shared subscription group: workers in one group split the stream",
    )
    session_expiry: Duration = Field(
        default=timedelta(days=2),
        description="How long the broker queues for a stopped worker (MQTT v5 session expiry)",
    )
    receive_maximum: int = Field(
        default=2000,
        ge=1,
        le=65535,
        description="Unacknowledged messages the broker may have in flight to this worker (MQTT v5)",
    )
    receipts: bool = Field(
        default=True,
        description="Confirm to each gateway what it stored ({prefix}/{site}/receipts): gateways keep "
        "messages until then (end-to-end acknowledgement); the broker's ACL must let this user write there",
    )


class SpoolConfig(BackendModel):
    """The local durable queue between MQTT and storage: a message is acknowledged to the broker once it
    is in the spool, so a storage outage or a crash loses nothing."""

    path: Path | None = Field(default=None, description="Default: var/spool-{worker_id}.sqlite3")
    batch_messages: int = Field(default=2000, ge=1, le=100_000, description="Messages per spool transaction")
    batch_linger: Duration = Field(
        default=timedelta(milliseconds=20), description="Longest wait to fill a spool transaction"
    )


class WriterConfig(BackendModel):
    batch_points: int = Field(default=20_000, ge=1, le=1_000_000, description="Points per storage write")
    flush_interval: Duration = Field(
        default=timedelta(milliseconds=200), description="Longest a point waits for its batch to fill"
    )
    retry_cap: Duration = Field(
        default=timedelta(seconds=30), description="Longest pause between retries while storage is down"
    )


class DeadLetterConfig(BackendModel):
    max_entries: int = Field(default=100_000, ge=100, description="Oldest entries are removed beyond this")
    max_payload_bytes: int = Field(
        default=64 * 1024, ge=256, description="Longer payloads are kept truncated"
    )


class RollupConfig(BackendModel):
    """Backend-side rollups (backend/storage/rollup.py). Each pass recomputes the last `lookback`."""

    enabled: bool = True
    every: Duration = Field(default=timedelta(minutes=1), description="How often a pass runs")
    lookback_1m: Duration = Field(
        default=timedelta(minutes=30), description="Late data window, 1-minute rollup"
    )
    lookback_1h: Duration = Field(default=timedelta(hours=3), description="Late data window, 1-hour rollup")
    lookback_vehicles: Duration = Field(
        default=timedelta(days=1),
        description="Late vehicle window of the hourly vehicle rollup (backend/api/vehicle_stats.py)",
    )

    late_settle: Duration = Field(
        default=timedelta(minutes=5),
        description=(
            "An hour marked late is recomputed once nothing was stored in it for this long (a backlog "
            "replaying into it, the rules service's truck verdicts beside it)"
        ),
    )

    @property
    def late_after(self) -> timedelta | None:
        """Points older than this when stored may miss every regular pass (the shortest lookback, less a
        pass's interval and the time a pass takes): the writer marks their hours for the rollup to
        recompute. None when rollups are off."""
        if not self.enabled:
            return None
        shortest = min(self.lookback_1m, self.lookback_1h, self.lookback_vehicles)
        # Half the window at most: a pass takes time, and the next one starts its window that much later.
        return max(min(shortest - self.every, shortest / 2), timedelta(0))


class RulesServiceConfig(BackendModel):
    """The rules engine on the live stream. Enable it on exactly one worker: it reads the whole stream under
    its own client id (its state needs every message of a series), whatever the ingest group does."""

    file: Path = Field(description="The rules file (`pantau rules check` validates it)")
    state: Path | None = Field(default=None, description="Default: var/rules-{worker_id}.sqlite3")
    tick: Duration = Field(
        default=timedelta(seconds=5), description="How often the clock runs stale, pending and hold timers"
    )
    batch_messages: int = Field(default=500, ge=1, le=100_000, description="Messages per evaluated batch")
    batch_linger: Duration = Field(default=timedelta(milliseconds=50))
    retained_check: Duration = Field(
        default=timedelta(minutes=10),
        description=(
            "How often the alerts the broker retains are held against the active ones (also at start): "
            "missing ones are published again, ones no longer active cleared"
        ),
        gt=timedelta(0),
    )
    notifiers: dict[Slug, NotifierConfig] = Field(
        default={}, description="Where alert transitions are sent besides storage and MQTT"
    )


class BackendConfig(BackendModel):
    worker_id: Slug = "backend-1"
    mqtt: BackendMqtt = BackendMqtt()
    storage: StorageConfig = StorageConfig()
    spool: SpoolConfig = SpoolConfig()
    writer: WriterConfig = WriterConfig()
    deadletter: DeadLetterConfig = DeadLetterConfig()
    rollups: RollupConfig = RollupConfig()
    sites: Path | None = Field(
        default=None, description="Folder of site files (as the gateways use): the inventory"
    )
    inventory_check: bool = Field(
        default=True,
        description=(
            "With `sites` set: dead-letter messages for a site or device no site file lists, or whose "
            "gateway is not the site's (unknown_site, unknown_device, gateway_mismatch); the broker's ACL "
            "is the first line, this holds where it is missing or wrong (backend/ingest/senders.py)"
        ),
    )
    rules: RulesServiceConfig | None = Field(default=None, description="Evaluate rules in this worker")
    clock_skew: Duration = Field(
        default=DEFAULT_CLOCK_SKEW,
        description=(
            "How far ahead of its arrival a message's time may be; beyond it readings and vehicles are "
            "stored with quality clock_skew, which rules and /latest ignore"
        ),
    )
    api: ApiConfig | None = Field(default=None, description="Serve the HTTP API from this worker")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve Prometheus metrics on 127.0.0.1:PORT"
    )

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"pantau-{self.worker_id}"

    @property
    def spool_path(self) -> Path:
        return self.spool.path or Path("var") / f"spool-{self.worker_id}.sqlite3"

    @property
    def rules_client_id(self) -> str:
        return f"{self.client_id}-rules"

    @property
    def rules_mqtt(self) -> BackendMqtt:
        """The rules engine's subscription logs in as `{username}-rules`: the shipped broker makes a client's
        id its user name (one session per user), and this is a second session of the worker's."""
        return self._login("rules")

    @property
    def alerts_mqtt(self) -> BackendMqtt:
        """The alert publisher logs in as `{username}-alerts` (a third connection; see `rules_mqtt`)."""
        return self._login("alerts")

    def _login(self, connection: str) -> BackendMqtt:
        if self.mqtt.username is None:
            return self.mqtt
        return self.mqtt.model_copy(update={"username": f"{self.mqtt.username}-{connection}"})

    def rules_state_path(self) -> Path:
        state = self.rules.state if self.rules else None
        return state or Path("var") / f"rules-{self.worker_id}.sqlite3"


def load_backend_config(path: Path) -> BackendConfig:
    """Load and validate backend.yaml; relative paths in it are relative to the file."""
    config = load_yaml_model(path, BackendConfig)
    base = path.parent
    spool = config.spool.model_copy(update={"path": base / config.spool_path})
    storage = config.storage
    if not storage.sqlite.path.is_absolute():
        sqlite = storage.sqlite.model_copy(update={"path": base / storage.sqlite.path})
        storage = storage.model_copy(update={"sqlite": sqlite})
    update: dict[str, object] = {"spool": spool, "storage": storage}
    if config.sites is not None:
        update["sites"] = base / config.sites
    if config.rules is not None:
        rules = config.rules
        state = base / config.rules_state_path()
        update["rules"] = rules.model_copy(update={"file": base / rules.file, "state": state})
    return config.model_copy(update=update)
