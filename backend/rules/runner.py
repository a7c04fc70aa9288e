"""What every rule kind's evaluator looks like to the engine: per-series state, events in, `Status` out.

A runner holds one rule and the state of each series it has seen. The engine feeds it readings (with their
QC verdicts), vehicles and clock ticks; it answers with the `Status` each touched alert should have, and
the `AlertBook` turns changes into transitions. State round-trips through JSON for restarts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Generic, TypeVar

from backend.rules.alerts import Series, Status
from backend.rules.config import Rule
from backend.rules.inventory import Inventory
from backend.rules.quality import QcVerdict
from pantau.contract import Reading, Vehicle

S = TypeVar("S")
R = TypeVar("R", bound=Rule)


class Runner(ABC, Generic[R, S]):
    """One rule's evaluator; subclasses override the events they care about."""

    def __init__(self, rule: R, inventory: Inventory) -> None:
        self.rule = rule
        self.inventory = inventory
        self.state: dict[Series, S] = {}
        #: Wall time the message being evaluated arrived (set by the engine); timers run on it when a
        #: series falls silent, and data times otherwise.
        self.arrival: datetime | None = None
        self._selected: dict[tuple[str, str, str | None], bool] = {}

    def selects(self, site: str, device: str, channel: str) -> bool:
        """Whether a channel is this rule's input (cached: the inventory is fixed under an engine)."""
        key = (site, device, channel)
        hit = self._selected.get(key)
        if hit is None:
            hit = self._selected[key] = self.rule.select.matches(site, device, channel, self.inventory)
        return hit

    def selects_device(self, site: str, device: str) -> bool:
        """Whether a device is this rule's input (vehicle rules)."""
        key = (site, device, None)
        hit = self._selected.get(key)
        if hit is None:
            hit = self._selected[key] = self.rule.select.matches_device(site, device, self.inventory)
        return hit

    def on_reading(self, series: Series, reading: Reading, verdict: QcVerdict, at: datetime) -> list[Status]:
        """A reading of a selected channel, after QC; `at` is the reading time."""
        del series, reading, verdict, at
        return []

    def on_vehicle(self, series: Series, vehicle: Vehicle) -> list[Status]:
        """A vehicle record from a selected device."""
        del series, vehicle
        return []

    def tick(self, now: datetime) -> list[Status]:
        """Time passed: timers that may have run out."""
        del now
        return []

    @abstractmethod
    def dump(self, state: S) -> Any:
        """One series' state as JSON-able data."""

    @abstractmethod
    def load(self, data: Any) -> S | None:
        """The state back from `dump`; None when it no longer fits the rule (then the series starts fresh)."""

    def snapshot(self) -> dict[str, Any]:
        return {series.key: self.dump(state) for series, state in self.state.items()}

    def restore(self, data: dict[str, Any]) -> None:
        for key, item in data.items():
            state = self.load(item)
            if state is not None:
                self.state[Series.from_key(key)] = state


def iso(value: datetime | None) -> str | None:
    """A timestamp for a snapshot."""
    return None if value is None else value.isoformat()


def from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
