"""Dead letters let in again: messages ingest refused, judged once more by what ingest runs now.

A message is dead-lettered for what was true when it came: a device the backend's site files did not list
yet (a technician added it on the gateway first), a bug since fixed. The gateway forgot it as soon as the
backend's receipt confirmed the dead letter, so the dead-letter store holds the only copy. `readmit` runs
each stored payload through `triage` with today's inventory and contract, spools the points of every one
now accepted for the writer (the running worker's, or the next one's), and deletes those dead letters in
the same transaction; the rest stay as they were, each with its reason today. Their alerts are not
evaluated (the rules service reads the live stream): `pantau rules replay` judges the period again.

Not readmitted: `record_reject` samples (a frame the gateway refused is no data), `storage_rejected`
points (storage refused them; they hold a point, not a message) and payloads the store cut short.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from backend.ingest.intake import Accepted, triage
from backend.ingest.record_rejects import RECORD_REJECT
from backend.ingest.senders import SenderCheck
from backend.ingest.spool import DeadLetter, Spool
from backend.storage.model import Point
from pantau.contract import Topics

#: Reasons whose entries are no message to judge again.
NOT_MESSAGES: Final = frozenset({RECORD_REJECT, "storage_rejected"})
#: Dead letters judged per transaction (each holds at most a 64 KiB payload).
PAGE: Final = 500


@dataclass
class Readmission:
    """What `readmit` did (or, in a dry run, would do)."""

    accepted: int = 0
    points: int = 0
    #: Entries still refused, by the reason they are refused for now.
    still_refused: Counter[str] = field(default_factory=Counter)
    #: Entries not judged again: not a message, or a payload the store cut short.
    skipped: Counter[str] = field(default_factory=Counter)


def readmit(
    spool: Spool,
    topics: Topics,
    senders: SenderCheck | None,
    clock_skew: timedelta,
    *,
    reason: str | None = None,
    dry_run: bool = False,
) -> Readmission:
    """Judge every dead letter (of `reason`, if given) again; spool and delete the ones accepted now."""
    done = Readmission()
    before: int | None = None
    while page := spool.deadletters(limit=PAGE, reason=reason, before_id=before):
        before = page[-1].id
        accepted: list[int] = []
        points: list[Point] = []
        for entry in page:
            verdict = _judge(entry, topics, senders, clock_skew, done)
            if isinstance(verdict, Accepted) and entry.id is not None:  # every stored entry has an id
                accepted.append(entry.id)
                points.extend(verdict.points)
        done.accepted += len(accepted)
        done.points += len(points)
        if accepted and not dry_run:
            spool.readmit(accepted, points)
    return done


def _judge(
    entry: DeadLetter, topics: Topics, senders: SenderCheck | None, clock_skew: timedelta, done: Readmission
) -> Accepted | None:
    if entry.reason in NOT_MESSAGES:
        done.skipped[entry.reason] += 1
        return None
    if len(entry.payload) < entry.size:
        done.skipped["truncated"] += 1
        return None
    # Judged as of its arrival: a time ahead of then is marked as it would have been.
    verdict = triage(entry.topic, entry.payload, topics, entry.received_at, clock_skew, senders=senders)
    if isinstance(verdict, Accepted):
        return verdict
    done.still_refused[verdict.reason if verdict is not None else "empty"] += 1
    return None
