"""What every router reads from: settings, storage, inventory, the alert book, keys and the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.api.auth import KeyRing
from backend.config.api import ApiConfig
from backend.inventory import SiteInventory
from backend.rules_service.alert_book import AlertBook
from backend.storage.model import Storage

#: A readiness check: returns when healthy, raises (anything) when not.
ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ApiContext:
    settings: ApiConfig
    storage: Storage
    inventory: SiteInventory
    alerts: AlertBook | None
    keys: KeyRing
    clock: Callable[[], datetime]
    readiness_checks: Mapping[str, ReadinessCheck]
    instance: str
    #: How far ahead of now a stored time may be and still count (backend.yaml `clock_skew`).
    clock_skew: timedelta
