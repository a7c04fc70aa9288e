"""MQTT topic layout under one configurable prefix (default `pantau/v1`).

    {prefix}/{site}/{device}/readings
    {prefix}/{site}/{device}/vehicles
    {prefix}/{site}/{device}/status
    {prefix}/{site}/{device}/rejects
    {prefix}/{site}/status
    {prefix}/{site}/receipts        (backend -> gateway: what was stored)
    {prefix}/alerts/{site}/{rule}[/{device}[/{channel}]]

One alert topic per alert (a rule raises one alert per series it watches: a site, a device or a channel),
so each alert's latest transition can be retained on its own. `alerts` is therefore reserved and can never
be a site id: `{prefix}/alerts/x/status` would otherwise mean both "device x at site alerts" and "rule
status at site x".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pantau.contract.errors import TopicError
from pantau.contract.fields import SLUG_PATTERN

DEFAULT_PREFIX: Final = "pantau/v1"
RESERVED_SITE_IDS: Final = frozenset({"alerts"})
_SLUG = re.compile(SLUG_PATTERN)
# Prefix levels are looser than ids (operators may nest under `city/balikpapan/...`) but never wildcards.
_PREFIX_LEVEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ALERTS = "alerts"


class TopicKind(StrEnum):
    READINGS = "readings"
    VEHICLES = "vehicles"
    DEVICE_STATUS = "device_status"
    RECORD_REJECTS = "record_rejects"
    GATEWAY_STATUS = "gateway_status"
    ALERT = "alert"
    RECEIPTS = "receipts"


#: Which message `kind` each topic kind carries.
MESSAGE_KIND_FOR_TOPIC: Final = {
    TopicKind.READINGS: "readings",
    TopicKind.VEHICLES: "vehicle",
    TopicKind.DEVICE_STATUS: "device_status",
    TopicKind.RECORD_REJECTS: "record_reject",
    TopicKind.GATEWAY_STATUS: "gateway_status",
    TopicKind.ALERT: "alert",
    TopicKind.RECEIPTS: "receipt",
}
_DEVICE_LEAVES: Final = {
    "readings": TopicKind.READINGS,
    "vehicles": TopicKind.VEHICLES,
    "status": TopicKind.DEVICE_STATUS,
    "rejects": TopicKind.RECORD_REJECTS,
}


@dataclass(frozen=True, slots=True)
class TopicRef:
    """What a topic addresses."""

    kind: TopicKind
    site: str
    device: str | None = None
    rule: str | None = None
    channel: str | None = None


def check_id(value: str, what: str) -> str:
    """Return `value` if it is a valid id for `what` (site, device, rule...), else raise TopicError."""
    if not _SLUG.fullmatch(value):
        raise TopicError(
            f"{what} id {value!r} is not a slug: 1-63 characters of a-z, 0-9, '-', '_', starting with a-z/0-9"
        )
    if what == "site" and value in RESERVED_SITE_IDS:
        raise TopicError(f"site id {value!r} is reserved for the alert topics")
    return value


class Topics:
    """Builds and parses pantau topics under one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        levels = prefix.split("/")
        if not all(_PREFIX_LEVEL.fullmatch(level) for level in levels):
            raise TopicError(
                f"topic prefix {prefix!r}: each level must be 1-64 characters of A-Z a-z 0-9 _ . - "
                "(no empty levels, no wildcards, no leading '$')"
            )
        self.prefix = prefix
        self._levels = len(levels)

    def readings(self, site: str, device: str) -> str:
        return f"{self.prefix}/{check_id(site, 'site')}/{check_id(device, 'device')}/readings"

    def vehicles(self, site: str, device: str) -> str:
        return f"{self.prefix}/{check_id(site, 'site')}/{check_id(device, 'device')}/vehicles"

    def device_status(self, site: str, device: str) -> str:
        return f"{self.prefix}/{check_id(site, 'site')}/{check_id(device, 'device')}/status"

    def record_rejects(self, site: str, device: str) -> str:
        return f"{self.prefix}/{check_id(site, 'site')}/{check_id(device, 'device')}/rejects"

    def gateway_status(self, site: str) -> str:
        return f"{self.prefix}/{check_id(site, 'site')}/status"

    def receipts(self, site: str) -> str:
        """Where the backend confirms to a site's gateway what it stored (not gateway traffic)."""
        return f"{self.prefix}/{check_id(site, 'site')}/receipts"

    def alert(self, site: str, rule: str, device: str | None = None, channel: str | None = None) -> str:
        """The topic of one alert: the rule's, below it the device's and the channel's it watches."""
        if channel is not None and device is None:
            raise TopicError("an alert topic names the device before the channel")
        levels = [check_id(site, "site"), check_id(rule, "rule")]
        levels += [check_id(device, "device")] if device is not None else []
        levels += [check_id(channel, "channel")] if channel is not None else []
        return "/".join([self.prefix, _ALERTS, *levels])

    def for_message(
        self,
        kind: TopicKind,
        site: str,
        device: str | None = None,
        rule: str | None = None,
        channel: str | None = None,
    ) -> str:
        """The topic for a TopicRef's fields; raises TopicError when a needed id is absent."""
        if kind is TopicKind.GATEWAY_STATUS:
            return self.gateway_status(site)
        if kind is TopicKind.RECEIPTS:
            return self.receipts(site)
        if kind is TopicKind.ALERT:
            if rule is None:
                raise TopicError("an alert topic needs a rule id")
            return self.alert(site, rule, device, channel)
        if device is None:
            raise TopicError(f"a {kind} topic needs a device id")
        builders = {
            TopicKind.READINGS: self.readings,
            TopicKind.VEHICLES: self.vehicles,
            TopicKind.DEVICE_STATUS: self.device_status,
            TopicKind.RECORD_REJECTS: self.record_rejects,
        }
        return builders[kind](site, device)

    def parse(self, topic: str) -> TopicRef:
        """Tell what a topic addresses; raises TopicError naming the topic when it is not a pantau topic."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic!r} is not under prefix {self.prefix!r}")
        rest = topic[len(head) :].split("/")
        try:
            return self._parse_levels(rest)
        except TopicError as exc:
            raise TopicError(f"topic {topic!r}: {exc}") from exc

    @staticmethod
    def _parse_levels(levels: list[str]) -> TopicRef:
        if len(levels) == 2 and levels[1] == "status":
            return TopicRef(TopicKind.GATEWAY_STATUS, site=check_id(levels[0], "site"))
        if len(levels) == 2 and levels[1] == "receipts":
            return TopicRef(TopicKind.RECEIPTS, site=check_id(levels[0], "site"))
        if 3 <= len(levels) <= 5 and levels[0] == _ALERTS:
            device, channel = [*levels[3:], None, None][:2]
            return TopicRef(
                TopicKind.ALERT,
                site=check_id(levels[1], "site"),
                rule=check_id(levels[2], "rule"),
                device=check_id(device, "device") if device is not None else None,
                channel=check_id(channel, "channel") if channel is not None else None,
            )
        if len(levels) == 3 and levels[2] in _DEVICE_LEAVES:
            return TopicRef(
                _DEVICE_LEAVES[levels[2]],
                site=check_id(levels[0], "site"),
                device=check_id(levels[1], "device"),
            )
        raise TopicError(
            "not one of {site}/status, {site}/receipts, {site}/{device}/readings|vehicles|status|rejects, "
            "alerts/{site}/{rule}[/{device}[/{channel}]]"
        )

    # Subscription filters for the backend.
    def all_gateway_traffic(self) -> list[str]:
        """Filters matching everything gateways publish (not the backend's own alerts)."""
        return [
            f"{self.prefix}/+/status",
            f"{self.prefix}/+/+/readings",
            f"{self.prefix}/+/+/vehicles",
            f"{self.prefix}/+/+/status",
            f"{self.prefix}/+/+/rejects",
        ]

    def alerts_filter(self) -> str:
        return f"{self.prefix}/{_ALERTS}/#"

    @staticmethod
    def shared(group: str, topic_filter: str) -> str:
        """MQTT v5 shared subscription, so several backend workers split one stream."""
        check_id(group, "shared subscription group")
        return f"$share/{group}/{topic_filter}"
