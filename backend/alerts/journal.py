"""What the rules engine did, step by step, since its last snapshot: entries to commit and to re-run.

An entry is one step of the live service: a batch of messages, a tick that moved an alert, or an operator's
acknowledgement, each with the clock it ran at. Ticks that changed nothing visible are not worth a disk
write each; they ride along with the next entry (`ticks`), so a replay lets the clock run exactly as live.

Replay discards what the steps produce when the rules are the ones they ran under: those effects were
committed with the entry. Under a changed rules file (edited between a crash and the restart) it keeps them,
since they are what the new rules make of the same data: delivered at least once, like every effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.alerts.effects import evaluate
from backend.rules import RuleEngine
from backend.rules.config import RulesFile
from backend.storage.model import Point
from pantau.contract import AlertTransition, Message, decode, encode


def rules_digest(rules: RulesFile) -> str:
    """A fingerprint of the rules as loaded (defaults and tables included)."""
    return hashlib.sha256(rules.model_dump_json().encode()).hexdigest()[:16]


def batch_entry(now: datetime, messages: Sequence[Message], digest: str, ticks: list[str]) -> dict[str, Any]:
    return _entry("batch", now, digest, ticks, messages=[encode(m).decode() for m in messages])


def tick_entry(now: datetime, digest: str, ticks: list[str]) -> dict[str, Any]:
    return _entry("tick", now, digest, ticks)


def ack_entry(
    now: datetime, digest: str, ticks: list[str], *, alert_id: str, by: str, note: str | None
) -> dict[str, Any]:
    return _entry("ack", now, digest, ticks, alert_id=alert_id, by=by, note=note)


def _entry(op: str, now: datetime, digest: str, ticks: list[str], **data: Any) -> dict[str, Any]:
    return {"op": op, "now": now.isoformat(), "rules": digest, "ticks": list(ticks), **data}


@dataclass
class Replayed:
    steps: int = 0
    messages: int = 0
    #: Effects of entries written under other rules (see the module docstring); empty otherwise.
    transitions: list[AlertTransition] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)


def replay(engine: RuleEngine, entries: Iterable[dict[str, Any]], digest: str) -> Replayed:
    """Re-run journal entries through `engine`, in order."""
    out = Replayed()
    for entry in entries:
        keep = entry["rules"] != digest
        transitions: list[AlertTransition] = []
        points: list[Point] = []
        for tick in entry["ticks"]:
            transitions += engine.tick(datetime.fromisoformat(tick))
        now = datetime.fromisoformat(entry["now"])
        if entry["op"] == "batch":
            for payload in entry["messages"]:
                found, stored = evaluate(engine, decode(payload), now)
                transitions += found
                points += stored
            out.messages += len(entry["messages"])
        elif entry["op"] == "tick":
            transitions += engine.tick(now)
        elif entry["op"] == "ack":
            acknowledged = engine.acknowledge(entry["alert_id"], entry["by"], now, entry["note"])
            transitions += [acknowledged] if acknowledged else []
        else:
            raise ValueError(f"rules journal: unknown entry {entry['op']!r}")
        out.steps += 1
        if keep:
            out.transitions += transitions
            out.points += points
    return out
