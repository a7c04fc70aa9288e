"""Alert lifecycle: one alert per (rule, series), pending -> firing (level changes) -> resolved, acknowledged.

Evaluators say what each series' alert *should* be (`Status`); the `AlertLifecycle` remembers what was last
published and emits an `AlertTransition` only when the state or level changes, numbering them per alert
(`seq`), so re-evaluating the same data never publishes twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from backend.rules.rule import RuleBase
from pantau.contract import Acknowledgement, AlertTransition
from pantau.contract.messages import AlertState

#: The contract's `Label` bound on alert ids.
MAX_ALERT_ID: Final = 64
_HASH_CHARS: Final = 12


@dataclass(frozen=True, slots=True)
class AlertSubject:
    """What one alert of a rule watches: a channel, a device or a whole site (gateway)."""

    site: str
    device: str | None = None
    channel: str | None = None

    @property
    def key(self) -> str:
        """`site/device/channel`, the form snapshots use (slugs never contain `/`)."""
        return "/".join((self.site, self.device or "", self.channel or ""))

    @classmethod
    def from_key(cls, key: str) -> AlertSubject:
        site, device, channel = key.split("/")
        return cls(site, device or None, channel or None)


def alert_id(rule: str, series: AlertSubject) -> str:
    """`rule:site:device:channel` (absent parts left out); past 64 characters, cut and suffixed by a hash."""
    text = ":".join(p for p in (rule, series.site, series.device, series.channel) if p)
    if len(text) <= MAX_ALERT_ID:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]
    return f"{text[: MAX_ALERT_ID - _HASH_CHARS - 1]}~{digest}"


@dataclass(frozen=True, slots=True)
class Status:
    """What an evaluator wants a series' alert to be now."""

    series: AlertSubject
    state: AlertState
    at: datetime
    level: str | None = None
    severity: int = 0
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None
    detail: str | None = None
    since: datetime | None = None


@dataclass(slots=True)
class Alert:
    """The last published state of one alert."""

    alert_id: str
    rule: str
    series: AlertSubject
    state: AlertState
    level: str | None
    severity: int
    started_at: datetime
    seq: int
    changed_at: datetime
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None
    message: str = ""
    acknowledgement: Acknowledgement | None = None


class RuleSet(Protocol):
    """What the lifecycle reads of a rules file (`backend.rules.config.RulesFile`). A protocol, not that
    class: the rules file's union is built from the kinds, whose evaluators import this module."""

    @property
    def rules(self) -> Sequence[RuleBase]: ...

    @property
    def language(self) -> str: ...


class AlertLifecycle:
    """Every alert the engine knows, active or resolved (a resolved one keeps its `seq` for next time)."""

    def __init__(self, rules: RuleSet, source: str) -> None:
        self._rules = {rule.id: rule for rule in rules.rules}
        self._language = rules.language
        self._source = source
        self.alerts: dict[str, Alert] = {}

    def apply(self, rule_id: str, status: Status) -> AlertTransition | None:
        """Record `status`; the transition to publish when it changes the alert's state or level."""
        aid = alert_id(rule_id, status.series)
        current = self.alerts.get(aid)
        first = current is None
        if current is None:
            if status.state == "resolved":
                return None
            current = Alert(aid, rule_id, status.series, "resolved", None, 0, status.at, -1, status.at)
        if current.state == status.state and current.level == status.level:
            return None
        previous_state, previous_level, previous_severity = current.state, current.level, current.severity
        if previous_state == "resolved":
            current.started_at = status.since or status.at
            current.acknowledgement = None
        elif status.severity > previous_severity:
            current.acknowledgement = None  # escalation needs a fresh acknowledgement
        current.state, current.level, current.severity = status.state, status.level, status.severity
        current.value, current.threshold, current.unit = status.value, status.threshold, status.unit
        current.seq += 1
        current.changed_at = status.at
        current.message = self._render(rule_id, status)
        self.alerts[aid] = current
        # An alert's first transition has no previous state (the contract omits it, not says `resolved`).
        return self._transition(current, status.at, None if first else previous_state, previous_level)

    def acknowledge(
        self, aid: str, by: str, at: datetime, note: str | None, *, key: str | None = None
    ) -> AlertTransition | None:
        """Record who took ownership of an active alert (`by`, as stated; `key`, the API key that was
        authenticated); the re-published transition, None if not active."""
        alert = self.alerts.get(aid)
        if alert is None or alert.state == "resolved":
            return None
        alert.acknowledgement = Acknowledgement(by=by, at=at, note=note, key=key)
        alert.seq += 1
        alert.changed_at = at
        return self._transition(alert, at, alert.state, alert.level)

    def orphans(self, at: datetime) -> list[AlertTransition]:
        """Resolve active alerts whose rule is gone (the rules file changed across a restart)."""
        out = []
        for alert in self.alerts.values():
            if alert.rule not in self._rules and alert.state != "resolved":
                previous_state, previous_level = alert.state, alert.level
                alert.state, alert.level, alert.severity = "resolved", None, 0
                alert.seq += 1
                alert.changed_at = at
                alert.message = f"{alert.alert_id}: rule removed"
                out.append(self._transition(alert, at, previous_state, previous_level))
        self.alerts = {aid: a for aid, a in self.alerts.items() if a.rule in self._rules}
        return out

    def active(self) -> list[AlertTransition]:
        """The current state of every pending or firing alert, as its latest transition."""
        return [
            self._transition(a, a.changed_at, None, None)
            for a in self.alerts.values()
            if a.state != "resolved"
        ]

    def _render(self, rule_id: str, status: Status) -> str:
        rule = self._rules[rule_id]
        values = {
            "rule": rule_id,
            "site": status.series.site,
            "device": status.series.device,
            "channel": status.series.channel,
            "level": status.level,
            "state": status.state,
            "severity": status.severity,
            "value": status.value,
            "threshold": status.threshold,
            "unit": status.unit,
            "detail": status.detail,
        }
        return rule.message_templates().render(self._language, values)

    def _transition(
        self,
        alert: Alert,
        at: datetime,
        previous_state: AlertState | None,
        previous_level: str | None,
    ) -> AlertTransition:
        return AlertTransition(
            site=alert.series.site,
            ts=at,
            source=self._source,
            seq=alert.seq,
            alert_id=alert.alert_id,
            rule=alert.rule,
            device=alert.series.device,
            channel=alert.series.channel,
            state=alert.state,
            previous_state=previous_state,
            level=alert.level,
            severity=alert.severity,
            previous_level=previous_level,
            value=alert.value,
            threshold=alert.threshold,
            unit=alert.unit,
            message=alert.message,
            started_at=alert.started_at,
            acknowledgement=alert.acknowledgement,
        )

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "alert_id": a.alert_id,
                "rule": a.rule,
                "series": a.series.key,
                "state": a.state,
                "level": a.level,
                "severity": a.severity,
                "started_at": a.started_at.isoformat(),
                "seq": a.seq,
                "changed_at": a.changed_at.isoformat(),
                "value": a.value,
                "threshold": a.threshold,
                "unit": a.unit,
                "message": a.message,
                "acknowledgement": a.acknowledgement.model_dump(mode="json") if a.acknowledgement else None,
            }
            for a in self.alerts.values()
        ]

    def restore(self, data: list[dict[str, Any]]) -> None:
        for item in data:
            ack = item["acknowledgement"]
            alert = Alert(
                alert_id=item["alert_id"],
                rule=item["rule"],
                series=AlertSubject.from_key(item["series"]),
                state=item["state"],
                level=item["level"],
                severity=item["severity"],
                started_at=datetime.fromisoformat(item["started_at"]),
                seq=item["seq"],
                changed_at=datetime.fromisoformat(item["changed_at"]),
                value=item["value"],
                threshold=item["threshold"],
                unit=item["unit"],
                message=item["message"],
                acknowledgement=Acknowledgement.model_validate(ack) if ack else None,
            )
            self.alerts[alert.alert_id] = alert
