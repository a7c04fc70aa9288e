"""What the rules engine did, step by step, since its last snapshot: entries to commit and to re-run.

An entry is one step of the live service: a batch of messages, a tick that moved an alert, or an operator's
acknowledgement, each with the clock it ran at. Ticks that changed nothing visible are not worth a disk
write each; they ride along with the next entry (`ticks`), so a replay lets the clock run exactly as live.

Replay runs under the rules the entries were written under (stored with the snapshot) and discards what the
steps produce: those effects were committed with their entries. A rules file edited since is applied after
the replay, the way a restart applies it to a snapshot (`RuleEngine.restore`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.rules import RuleEngine
from backend.rules_service.effects import evaluate
from pantau.contract import Message, decode, encode


def batch_entry(now: datetime, messages: Sequence[Message], ticks: list[str]) -> dict[str, Any]:
    return _entry("batch", now, ticks, messages=[encode(m).decode() for m in messages])


def tick_entry(now: datetime, ticks: list[str]) -> dict[str, Any]:
    return _entry("tick", now, ticks)


def ack_entry(
    now: datetime, ticks: list[str], *, alert_id: str, by: str, note: str | None, key: str | None = None
) -> dict[str, Any]:
    return _entry("ack", now, ticks, alert_id=alert_id, by=by, note=note, key=key)


def _entry(op: str, now: datetime, ticks: list[str], **data: Any) -> dict[str, Any]:
    return {"op": op, "now": now.isoformat(), "ticks": list(ticks), **data}


@dataclass
class Replayed:
    steps: int = 0
    messages: int = 0


def replay(engine: RuleEngine, entries: Iterable[dict[str, Any]]) -> Replayed:
    """Re-run journal entries through `engine`, in order; what they produce was delivered already."""
    out = Replayed()
    for entry in entries:
        for tick in entry["ticks"]:
            engine.tick(datetime.fromisoformat(tick))
        now = datetime.fromisoformat(entry["now"])
        if entry["op"] == "batch":
            for payload in entry["messages"]:
                evaluate(engine, decode(payload), now)
            out.messages += len(entry["messages"])
        elif entry["op"] == "tick":
            engine.tick(now)
        elif entry["op"] == "ack":
            # Journals written before acknowledgements kept their key have none.
            engine.acknowledge(entry["alert_id"], entry["by"], now, entry["note"], key=entry.get("key"))
        else:
            raise ValueError(f"rules journal: unknown entry {entry['op']!r}")
        out.steps += 1
    return out
