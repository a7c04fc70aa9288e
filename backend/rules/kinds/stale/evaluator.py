"""Stale data: a device with no good reading for `after`, or a gateway offline or silent.

- `scope: device`: the alert per (site, device) fires when no usable reading (QC not failed, not missing)
  of a selected channel has a timestamp within `after` of now. Reading time, not arrival time: a backlog
  flushed after an outage does not make a device look fresh. A device the gateway reports `disabled` is not
  stale. While its gateway is offline a device alert is left as it is (`inhibit_when_gateway_offline`): the
  gateway alert says it all, not one alert per device.
- `scope: gateway`: the alert per site fires when the gateway's retained status (or its Last Will) says
  `offline` for `pending`, or when nothing at all has arrived from the site for `after` (arrival time).

Devices and sites in the inventory that never said anything go stale `after` the engine's first tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.inventory import Inventory
from backend.rules.kinds.stale.config import StaleRule
from backend.rules.liveness import Liveness
from backend.rules.runner import PresenceWatch, from_iso, iso
from pantau.contract import format_utc


@dataclass
class Freshness:
    """Last usable reading time of a device (or, for a gateway, when it was first expected)."""

    last: datetime
    disabled: bool = False


class StaleRunner(PresenceWatch[StaleRule, Freshness]):
    """`kind: stale`, both scopes."""

    def __init__(self, rule: StaleRule, inventory: Inventory, liveness: Liveness) -> None:
        super().__init__(rule, inventory)
        self.liveness = liveness

    @classmethod
    def create(cls, rule: StaleRule, inventory: Inventory, liveness: Liveness) -> StaleRunner:
        return cls(rule, inventory, liveness)

    @property
    def gateway_scope(self) -> bool:
        return self.rule.scope == "gateway"

    def heard(self, site: str, device: str, channel: str, at: datetime, now: datetime) -> list[Status]:
        """A usable reading of (site, device, channel) taken at `at`, arrived at `now`."""
        if self.gateway_scope or not self.selects(site, device, channel):
            return []
        # No reading is fresher than its arrival: a time ahead of it (a gateway clock running fast) would
        # otherwise keep the device "fresh" until that time, however long it then stays silent.
        at = min(at, now)
        series = AlertSubject(site, device)
        fresh = self.state.get(series)
        if fresh is None:
            fresh = self.state[series] = Freshness(at)
        fresh.last = max(fresh.last, at)
        return self._device_status(series, fresh, now)

    def device_state(self, site: str, device: str, state: str, now: datetime) -> list[Status]:
        """The gateway's DeviceStatus: `disabled` takes a device out of stale checking."""
        if self.gateway_scope or not self.rule.select.matches_device(site, device, self.inventory):
            return []
        series = AlertSubject(site, device)
        fresh = self.state.setdefault(series, Freshness(now))
        fresh.disabled = state == "disabled"
        return self._device_status(series, fresh, now)

    def tick(self, now: datetime) -> list[Status]:
        self._seed(now)
        if self.gateway_scope:
            return [self._gateway_status(series, fresh, now) for series, fresh in self.state.items()]
        return [
            status
            for series, fresh in self.state.items()
            for status in self._device_status(series, fresh, now)
        ]

    def gateway_changed(self, site: str, now: datetime) -> list[Status]:
        """Something from the site arrived, or its gateway status changed."""
        if not self.gateway_scope or not self.rule.select.matches_site(site, self.inventory):
            return []
        series = AlertSubject(site)
        fresh = self.state.setdefault(series, Freshness(now))
        return [self._gateway_status(series, fresh, now)]

    def _seed(self, now: datetime) -> None:
        for site, device in self.inventory.devices():
            if self.gateway_scope:
                if self.rule.select.matches_site(site, self.inventory):
                    self.state.setdefault(AlertSubject(site), Freshness(now))
            elif self.rule.select.matches_device(site, device, self.inventory):
                self.state.setdefault(AlertSubject(site, device), Freshness(now))

    def _device_status(self, series: AlertSubject, fresh: Freshness, now: datetime) -> list[Status]:
        """Empty while the gateway is offline (inhibited): the alert stays as it was."""
        if fresh.disabled or now - fresh.last <= self.rule.after:
            return [Status(series, "resolved", now)]
        if series.site in self.liveness.offline_since and self.rule.inhibit_when_gateway_offline:
            return []
        status = Status(
            series,
            "firing",
            now,
            level="stale",
            severity=self.rule.severity,
            detail=f"last good reading {format_utc(fresh.last)}",
            since=fresh.last + self.rule.after,
        )
        return [status]

    def _gateway_status(self, series: AlertSubject, fresh: Freshness, now: datetime) -> Status:
        site = series.site
        offline_at = self.liveness.offline_since.get(site)
        if offline_at is not None and now - offline_at >= self.rule.pending:
            reason = self.liveness.offline_reason.get(site) or "offline"
            detail = f"gateway offline ({reason}) since {format_utc(offline_at)}"
            return Status(series, "firing", now, level="offline", severity=self.rule.severity, detail=detail)
        last = max(self.liveness.heard.get(site, fresh.last), fresh.last)
        if now - last > self.rule.after:
            detail = f"nothing heard since {format_utc(last)}"
            return Status(series, "firing", now, level="silent", severity=self.rule.severity, detail=detail)
        return Status(series, "resolved", now)

    def dump(self, state: Freshness) -> Any:
        return {"last": iso(state.last), "disabled": state.disabled}

    def load(self, data: Any) -> Freshness | None:
        last = from_iso(data["last"])
        return None if last is None else Freshness(last, disabled=data["disabled"])
