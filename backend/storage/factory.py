"""The storage the config asks for: InfluxDB when configured, else the embedded SQLite database."""

from __future__ import annotations

from backend.storage.config import StorageConfig
from backend.storage.model import Retention, Storage


def open_storage(config: StorageConfig) -> Storage:
    retention = Retention(raw=config.retention.raw, long=config.retention.long)
    if config.backend == "influx" and config.influx is not None:
        from backend.storage.influx import InfluxStorage  # noqa: PLC0415 - only the chosen backend loads

        return InfluxStorage(config.influx, retention)
    from backend.storage.sqlite import SqliteStorage  # noqa: PLC0415

    return SqliteStorage(config.sqlite.path, retention)
