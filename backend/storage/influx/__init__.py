"""InfluxDB storage over the v1 HTTP API (see README.md): line protocol in, InfluxQL out."""

from backend.storage.influx.storage import InfluxStorage

__all__ = ["InfluxStorage"]
