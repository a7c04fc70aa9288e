"""The seam between the alert state (owned by the rules engine) and its readers (the HTTP API).

History lives in storage (measurement `alert`, one point per transition: `schema.alert_point`); the book
answers what only the engine knows right now: which alerts are active, and takes acknowledgements.
"""

from __future__ import annotations

from typing import Protocol

from pantau.contract import AlertTransition


class UnknownAlert(LookupError):
    """No active alert has this id (never existed, or already resolved)."""


class AlertBook(Protocol):
    def active(self) -> list[AlertTransition]:
        """The latest transition of every alert that is pending or firing, most severe first."""
        ...

    async def acknowledge(
        self, alert_id: str, by: str, note: str | None, *, key: str | None = None
    ) -> AlertTransition:
        """Record that an operator took ownership (`by`, as stated; `key`, the API key that was
        authenticated); the returned transition is stored and published like any other. Raises UnknownAlert
        when `alert_id` is not active."""
        ...
