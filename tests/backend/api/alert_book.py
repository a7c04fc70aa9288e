"""`AlertBook` over the real rules engine, as the rules worker will offer it to the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from backend.rules import RuleEngine
from backend.rules_service.alert_book import UnknownAlert
from backend.storage.model import Storage
from backend.storage.schema import alert_point
from pantau.contract import AlertTransition


class EngineAlertBook:
    """Active alerts from a `RuleEngine`; an acknowledgement is stored like any other transition (the MQTT
    publication the rules worker adds is not part of the API)."""

    def __init__(self, engine: RuleEngine, storage: Storage, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.storage = storage
        self.clock = clock

    def active(self) -> list[AlertTransition]:
        return sorted(self.engine.active_alerts(), key=lambda t: (-t.severity, t.alert_id))

    async def acknowledge(
        self, alert_id: str, by: str, note: str | None, *, key: str | None = None
    ) -> AlertTransition:
        transition = self.engine.acknowledge(alert_id, by, self.clock(), note, key=key)
        if transition is None:
            raise UnknownAlert(alert_id)
        await self.storage.write([alert_point(transition)])
        return transition
