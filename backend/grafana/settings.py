"""What the generated Grafana objects need to know besides the inventory and the rules: where the data is.

Defaults come from the storage config (`InfluxConfig`), so Grafana reads the retention policies the backend
writes to without a second copy of their names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from backend.storage.config import InfluxConfig
from pantau.config import Duration

_INFLUX: Final = InfluxConfig.model_fields


class GrafanaSettings(BaseModel):
    """Names shared by the datasource, every panel query and every alert rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasource_uid: str = Field(default="pantau-influxdb", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    datasource_name: str = "pantau InfluxDB"
    database: str = _INFLUX["database"].default
    retention_policy_raw: str = _INFLUX["retention_policy_raw"].default
    retention_policy_long: str = _INFLUX["retention_policy_long"].default
    folder_uid: str = Field(default="pantau", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    folder_title: str = "pantau"
    timezone: str = Field(default="Asia/Makassar", description="Balikpapan is WITA (UTC+8)")
    alert_lookback: Duration = Field(
        default=timedelta(days=90),
        description="How far back an alert rule looks for the backend's last transition of an alert",
    )
    gateway_silence: Duration = Field(
        default=timedelta(minutes=10), description="Default no-data time for a gateway's status"
    )
    backend_silence: Duration = Field(
        default=timedelta(minutes=10), description="No reading stored anywhere for this long: backend down"
    )
