"""The rule engine: messages and clock ticks in; QC verdicts, ODOL verdicts and alert transitions out.

Pure and synchronous: no I/O and no clock of its own. Every method takes the time it should consider
`now` (aware, UTC), so the same engine runs live (wall clock) and in replay (the recorded times).
Data-driven timers (levels, rate, accumulation) run on reading timestamps; `tick(now)` lets the clock
run them too (stale data, pending and hold on a silent series, windows emptying).

One engine holds the state of every alert; `snapshot()` / `RuleEngine.restore(...)` carry it across a
restart, so nothing fires twice and no pending timer starts over.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from backend.rules.alert_lifecycle import AlertLifecycle, AlertSubject, Status
from backend.rules.config import Rule, RulesFile
from backend.rules.inventory import Inventory
from backend.rules.kinds import KINDS
from backend.rules.kinds.odol.evaluator import OdolVerdict
from backend.rules.kinds.wim_drift.evaluator import DriftUpdate
from backend.rules.liveness import Liveness
from backend.rules.quality import QcVerdict
from backend.rules.runner import PresenceWatch, ReadingCheck, Runner, VehicleJudge, VehicleObserver
from pantau.contract import AlertTransition, DeviceStatus, GatewayStatus, Quality, Readings, Vehicle
from pantau.contract.fields import SLUG_PATTERN

logger = logging.getLogger(__name__)

SNAPSHOT_VERSION: Final = 1
_SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one Readings message: QC verdict per channel, and alert transitions to publish."""

    qc: dict[str, QcVerdict]
    transitions: list[AlertTransition]


@dataclass(frozen=True)
class VehicleEvaluation:
    """The outcome of one vehicle: the ODOL verdict per `odol` rule, scale-drift updates, transitions."""

    verdicts: dict[str, OdolVerdict]
    drift: list[DriftUpdate]
    transitions: list[AlertTransition]

    @property
    def verdict(self) -> OdolVerdict | None:
        """The verdict of the first matching `odol` rule (file order): the one stored with the vehicle."""
        return next(iter(self.verdicts.values()), None)

    def fields(self) -> dict[str, float | int | str | bool]:
        """Verdict fields for the vehicle point (`backend.storage.schema.vehicle_point(msg, verdict=...)`)."""
        return self.verdict.fields() if self.verdict else {}


@dataclass
class _Runners:
    """The rules' evaluators by their part in the evaluation order (`backend/rules/runner.py`)."""

    checks: list[ReadingCheck[Any, Any]] = field(default_factory=list)
    readings: list[Runner[Any, Any]] = field(default_factory=list)
    presence: list[PresenceWatch[Any, Any]] = field(default_factory=list)
    judges: list[VehicleJudge[Any, Any]] = field(default_factory=list)
    observers: list[VehicleObserver[Any, Any]] = field(default_factory=list)
    by_rule: dict[str, Runner[Any, Any]] = field(default_factory=dict)


class RuleEngine:
    """Evaluates a rules file on the message stream; `source` (a slug) names this worker in transitions."""

    def __init__(self, rules: RulesFile, inventory: Inventory, source: str) -> None:
        if not _SLUG.fullmatch(source):
            raise ValueError(f"source {source!r} is not a slug (it goes into every alert transition)")
        self.rules = rules
        self.inventory = inventory
        self.source = source
        self.liveness = Liveness()
        self.alerts = AlertLifecycle(rules, source)
        self._runners = _Runners()
        for rule in rules.rules:
            self._register(self._make(rule))

    def _make(self, rule: Rule) -> Runner[Any, Any]:
        return KINDS[rule.kind].evaluator.create(rule, self.inventory, self.liveness)

    def _register(self, runner: Runner[Any, Any]) -> None:
        r = self._runners
        if isinstance(runner, ReadingCheck):
            r.checks.append(runner)
        elif isinstance(runner, PresenceWatch):
            r.presence.append(runner)
        elif isinstance(runner, VehicleJudge):
            r.judges.append(runner)
        elif isinstance(runner, VehicleObserver):
            r.observers.append(runner)
        else:
            r.readings.append(runner)
        r.by_rule[runner.rule.id] = runner

    def on_readings(self, msg: Readings, now: datetime) -> Evaluation:
        """QC every channel, then levels, rate, accumulation and stale rules on what QC let through."""
        self._arrive(now)
        self.liveness.hear(msg.site, now)
        out: list[tuple[str, Status]] = []
        verdicts: dict[str, QcVerdict] = {}
        for channel, reading in msg.channels.items():
            series = AlertSubject(msg.site, msg.device, channel)
            verdict = QcVerdict.of(reading)
            if reading.quality is Quality.CLOCK_SKEW:
                # Its time cannot be trusted, so it may not order anything: a reading dated years ahead
                # would otherwise be the series' newest for years, and every real one after it "older".
                verdicts[channel] = verdict
                continue
            for check in self._runners.checks:
                if check.selects(msg.site, msg.device, channel):
                    found, statuses = check.check(series, reading, msg.ts)
                    verdict = verdict.worst(found)
                    out.extend((check.rule.id, s) for s in statuses)
            verdicts[channel] = verdict
            for runner in self._runners.readings:
                if runner.selects(msg.site, msg.device, channel):
                    statuses = runner.on_reading(series, reading, verdict, msg.ts)
                    out.extend((runner.rule.id, s) for s in statuses)
            if verdict.usable and (reading.value is not None or reading.text is not None):
                for watch in self._runners.presence:
                    statuses = watch.heard(msg.site, msg.device, channel, msg.ts, now)
                    out.extend((watch.rule.id, s) for s in statuses)
        out.extend(self._site_heard(msg.site, now))
        return Evaluation(verdicts, self._apply(out))

    def on_vehicle(self, msg: Vehicle, now: datetime) -> VehicleEvaluation:
        """ODOL verdicts (stored with the vehicle), scale drift, and the alerts they move."""
        self._arrive(now)
        self.liveness.hear(msg.site, now)
        series = AlertSubject(msg.site, msg.device)
        out: list[tuple[str, Status]] = []
        verdicts: dict[str, OdolVerdict] = {}
        drift: list[DriftUpdate] = []
        if msg.quality is Quality.CLOCK_SKEW:
            # Weighed right, timed wrong: the verdict stands, but it joins no window and counts as no sign
            # of life (see on_readings).
            for judge in self._runners.judges:
                if judge.selects_device(msg.site, msg.device):
                    verdicts[judge.rule.id] = judge.verdict_only(series, msg)
            return VehicleEvaluation(verdicts, drift, self._apply(self._site_heard(msg.site, now)))
        for judge in self._runners.judges:
            if judge.selects_device(msg.site, msg.device):
                verdict, statuses = judge.judge(series, msg)
                verdicts[judge.rule.id] = verdict
                out.extend((judge.rule.id, s) for s in statuses)
        for runner in self._runners.observers:
            if runner.selects_device(msg.site, msg.device):
                update, statuses = runner.observe(series, msg)
                if update is not None:
                    drift.append(update)
                out.extend((runner.rule.id, s) for s in statuses)
        for watch in self._runners.presence:
            out.extend((watch.rule.id, s) for s in watch.heard(msg.site, msg.device, "", msg.ts, now))
        out.extend(self._site_heard(msg.site, now))
        return VehicleEvaluation(verdicts, drift, self._apply(out))

    def on_gateway_status(self, msg: GatewayStatus, now: datetime) -> list[AlertTransition]:
        """A gateway's retained status or Last Will; `offline` counts from its arrival (`now`), since a Last
        Will is prepared when the gateway connects and carries that time."""
        _aware(now)
        self.liveness.hear(msg.site, now)
        self.liveness.gateway(msg.site, online=msg.state == "online", at=now, reason=msg.reason)
        return self._apply(self._from(self._runners.presence, lambda r: r.tick(now)))

    def on_device_status(self, msg: DeviceStatus, now: datetime) -> list[AlertTransition]:
        """A device's communication health; `disabled` takes it out of stale checks."""
        _aware(now)
        self.liveness.hear(msg.site, now)
        out = self._from(
            self._runners.presence, lambda r: r.device_state(msg.site, msg.device, msg.state, now)
        )
        out.extend(self._site_heard(msg.site, now))
        return self._apply(out)

    def tick(self, now: datetime) -> list[AlertTransition]:
        """Let the clock run: stale data, pending/hold timers on silent series, windows emptying."""
        _aware(now)
        transitions = self.alerts.orphans(now)
        return transitions + self._apply(self._from(self._runners.by_rule.values(), lambda r: r.tick(now)))

    def acknowledge(
        self, alert_id: str, by: str, at: datetime, note: str | None = None, *, key: str | None = None
    ) -> AlertTransition | None:
        """An operator owns an active alert: the transition to re-publish (None: not active). `key`: the
        API key that was authenticated, kept beside `by` (who says they acted)."""
        _aware(at)
        return self.alerts.acknowledge(alert_id, by, at, note, key=key)

    def active_alerts(self) -> list[AlertTransition]:
        """Every pending or firing alert, as its latest transition."""
        return self.alerts.active()

    def snapshot(self) -> dict[str, Any]:
        """All state as JSON-able data, for `restore` after a restart."""
        return {
            "version": SNAPSHOT_VERSION,
            "source": self.source,
            "alerts": self.alerts.snapshot(),
            "liveness": self.liveness.dump(),
            "rules": {
                rule_id: {"kind": runner.rule.kind, "state": runner.snapshot()}
                for rule_id, runner in self._runners.by_rule.items()
            },
        }

    @classmethod
    def restore(
        cls, rules: RulesFile, inventory: Inventory, source: str, snapshot: dict[str, Any]
    ) -> RuleEngine:
        """An engine for `rules` that carries on from `snapshot`. State of rules since removed (or whose kind
        changed) is dropped; their still-active alerts are resolved by the first `tick`."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {snapshot.get('version')!r} is not {SNAPSHOT_VERSION}")
        engine = cls(rules, inventory, source)
        engine.alerts.restore(snapshot["alerts"])
        engine.liveness = Liveness.load(snapshot["liveness"])
        engine._runners = _Runners()
        for rule in rules.rules:
            runner = engine._make(rule)
            saved = snapshot["rules"].get(rule.id)
            if saved is not None and saved["kind"] == rule.kind:
                try:
                    runner.restore(saved["state"])
                except (KeyError, TypeError, ValueError):
                    logger.warning(
                        "rule %s: saved state does not fit the rule any more; starting afresh", rule.id
                    )
                    runner = engine._make(rule)
            engine._register(runner)
        return engine

    def _arrive(self, now: datetime) -> None:
        """A message arrives at `now`: runners stamp the values it carries with it (their series' clocks)."""
        _aware(now)
        for runner in self._runners.by_rule.values():
            runner.arrival = now

    def _site_heard(self, site: str, now: datetime) -> list[tuple[str, Status]]:
        return self._from(self._runners.presence, lambda r: r.gateway_changed(site, now))

    @staticmethod
    def _from(runners: Iterable[Runner[Any, Any]], call: Any) -> list[tuple[str, Status]]:
        return [(runner.rule.id, status) for runner in runners for status in call(runner)]

    def _apply(self, statuses: list[tuple[str, Status]]) -> list[AlertTransition]:
        transitions = []
        for rule_id, status in statuses:
            transition = self.alerts.apply(rule_id, status)
            if transition is not None:
                transitions.append(transition)
        return transitions


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"time {now.isoformat()} must be timezone-aware (UTC)")
