"""The broker's retained alerts held against the engine's active ones.

A subscriber that connects late learns the active alerts from the retained messages under
`{prefix}/alerts/`, so what the broker retains must be exactly what the engine holds active. Publishing each
transition keeps it so while both sides remember; this puts it right where one side forgot:

- the rules state was set aside (unreadable after an upgrade) or a rule was removed from the rules file: the
  broker still retains alerts no engine will ever resolve, a flood warning shown for good;
- the broker restarted without persistence, or its retained store was wiped: active alerts are missing;
- a release that keyed retained alerts per rule left one message per rule on the old topic.

`plan` is the pure decision; the dispatcher reads the retained messages and carries the plan out at start
and every `rules.retained_check`. Only this rules worker's own alerts (`source`) are ever cleared: a
retained alert of another source is reported and left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pantau.contract import AlertTransition, ContractError, Topics, decode


@dataclass(frozen=True)
class ActiveAlerts:
    """What the engine holds: its active alerts, and the alerts with a transition still to deliver, whose
    retained message that delivery puts right (the check leaves them be, so nothing goes out twice)."""

    alerts: Sequence[AlertTransition]
    settling: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RetainedPlan:
    """What to do so the broker retains one message per active alert, on its own topic, and nothing else."""

    #: Topics to clear (an empty retained publish): alerts no longer active, or on a topic not their own.
    clear: list[str] = field(default_factory=list)
    #: Active alerts to publish again (retained): missing on the broker, or retained at an older `seq`.
    publish: list[AlertTransition] = field(default_factory=list)
    #: Retained topics left alone, each with why: another rules worker's alert, or not an alert at all.
    foreign: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.clear) + len(self.publish)


def plan(retained: Mapping[str, bytes], active: ActiveAlerts, source: str, topics: Topics) -> RetainedPlan:
    """Compare `retained` (topic -> payload, as the broker hands them to a new subscriber) with the engine's
    `active` alerts and say what to clear and what to publish again."""
    wanted = {
        topics.alert(a.site, a.rule, a.device, a.channel): a
        for a in active.alerts
        if a.alert_id not in active.settling
    }
    result = RetainedPlan()
    held: set[str] = set()
    for topic, payload in sorted(retained.items()):
        if not payload:
            continue  # a clear the broker passed on: nothing is retained there
        try:
            message = decode(payload)
        except ContractError as exc:
            result.foreign.append((topic, f"not an alert pantau can read: {exc}"))
            continue
        if not isinstance(message, AlertTransition):
            result.foreign.append((topic, f"a '{message.kind}' message, not an alert"))
            continue
        if message.source != source:
            result.foreign.append((topic, f"alert {message.alert_id} of rules worker '{message.source}'"))
            continue
        if message.alert_id in active.settling:
            held.add(topic)
            continue
        alert = wanted.get(topic)
        if alert is None or alert.alert_id != message.alert_id:
            result.clear.append(topic)
        elif message.seq < alert.seq:
            result.publish.append(alert)
            held.add(topic)
        else:
            held.add(topic)
    result.publish.extend(alert for topic, alert in sorted(wanted.items()) if topic not in held)
    return result
