"""What every rule kind's evaluator looks like to the engine: per-series state, events in, `Status` out.

A runner holds one rule and the state of each series it has seen. The engine feeds it readings (with their
QC verdicts), vehicles and clock ticks; it answers with the `Status` each touched alert should have, and
the `AlertLifecycle` turns changes into transitions. State round-trips through JSON for restarts.

A plain `Runner` takes the readings of the channels it selects, after QC (`on_reading`). A kind that plays
another part in the engine's evaluation order subclasses the runner of that part: `ReadingCheck` judges
each reading before the others see it (QC), `PresenceWatch` hears every sign of life (stale data),
`VehicleJudge` gives each vehicle the verdict stored with it (ODOL), `VehicleObserver` follows vehicles
and yields points to store (scale drift). The engine dispatches on these parts, never on a kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.inventory import Inventory
from backend.rules.quality import QcVerdict
from backend.rules.rule import RuleBase
from pantau.contract import Reading, Vehicle

if TYPE_CHECKING:
    from backend.rules.liveness import Liveness

S = TypeVar("S")
R = TypeVar("R", bound=RuleBase)


class Runner(ABC, Generic[R, S]):
    """One rule's evaluator; subclasses override the events they care about."""

    def __init__(self, rule: R, inventory: Inventory) -> None:
        self.rule = rule
        self.inventory = inventory
        self.state: dict[AlertSubject, S] = {}
        #: Wall time the message being evaluated arrived (set by the engine); timers run on it when a
        #: series falls silent, and data times otherwise.
        self.arrival: datetime | None = None
        self._selected: dict[tuple[str, str, str | None], bool] = {}

    @classmethod
    def create(cls, rule: Any, inventory: Inventory, liveness: Liveness) -> Runner[Any, Any]:
        """The evaluator of `rule` in an engine; a kind that needs the engine's `Liveness` overrides it."""
        del liveness
        return cls(rule, inventory)

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

    def on_reading(
        self, series: AlertSubject, reading: Reading, verdict: QcVerdict, at: datetime
    ) -> list[Status]:
        """A reading of a selected channel, after QC; `at` is the reading time."""
        del series, reading, verdict, at
        return []

    def on_vehicle(self, series: AlertSubject, vehicle: Vehicle) -> list[Status]:
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
                self.state[AlertSubject.from_key(key)] = state


class ReadingCheck(Runner[R, S]):
    """Judges each reading of a selected channel before any other rule sees it (QC)."""

    @abstractmethod
    def check(self, series: AlertSubject, reading: Reading, at: datetime) -> tuple[QcVerdict, list[Status]]:
        """The reading's verdict (the worst test) and the statuses of the alerts it moves."""


class PresenceWatch(Runner[R, S]):
    """Hears every sign of life of devices and gateways (stale data)."""

    @abstractmethod
    def heard(self, site: str, device: str, channel: str, at: datetime, now: datetime) -> list[Status]:
        """A usable reading (or a vehicle: channel "") taken at `at`, arrived at `now`."""

    @abstractmethod
    def device_state(self, site: str, device: str, state: str, now: datetime) -> list[Status]:
        """A device's communication health from its gateway."""

    @abstractmethod
    def gateway_changed(self, site: str, now: datetime) -> list[Status]:
        """Something arrived from the site, or its gateway's status changed."""


class VehicleJudge(Runner[R, S]):
    """Gives each vehicle of a selected device the verdict stored with it (ODOL)."""

    @abstractmethod
    def judge(self, series: AlertSubject, vehicle: Vehicle) -> tuple[Any, list[Status]]:
        """The vehicle's verdict, counted in the rule's alert."""

    @abstractmethod
    def verdict_only(self, series: AlertSubject, vehicle: Vehicle) -> Any:
        """The verdict of a vehicle whose time cannot be trusted: it joins no window."""


class VehicleObserver(Runner[R, S]):
    """Follows the vehicles of a selected device and yields points to store (scale drift)."""

    @abstractmethod
    def observe(self, series: AlertSubject, vehicle: Vehicle) -> tuple[Any, list[Status]]:
        """The point to store for this vehicle (None: none) and the statuses it moves."""


def iso(value: datetime | None) -> str | None:
    """A timestamp for a snapshot."""
    return None if value is None else value.isoformat()


def from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
