"""The live stream's hand-off: messages just stored, given to the publisher without reading them back.

Every poll cycle is committed to the outbox and then published. Reading it back from SQLite costs a thread
hand-off and a query per cycle, only to return what the poller had in hand a moment before. `LiveQueue`
keeps those messages in memory as a cache of what `Outbox.pending(after=cursor)` would return next, and is
trusted only while that is provably the same:

- a run of messages is handed out only when it starts exactly at `cursor + 1` (sequence numbers are given
  out without gaps, so a missing one shows as a gap, and the outbox is read instead);
- "nothing new" is believed only after the outbox itself said so at this cursor (`caught_up`), and no
  longer than until the publisher's idle look-out (`doubt`), so a message stored by some other path
  is never held back for more than that look-out;
- an overflow (the broker away for long) forgets everything and goes back to the outbox.

Being wrong costs only a read of the outbox, never a message: the outbox remains the source of truth.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final

from gateway.outbox import OutboxMessage

#: Messages held at most (about 20 s of a busy gateway's polls): past it the broker is away and the
#: backlog path reads the outbox anyway.
LIMIT: Final = 2000


class LiveQueue:
    """Just-stored messages, in sequence order, for the live stream (see the module docstring)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._messages: deque[OutboxMessage] = deque()
        #: True while the outbox has nothing after the cursor that is not also held here.
        self._complete = False

    def offer(self, messages: Sequence[OutboxMessage]) -> None:
        """Messages the outbox has just committed (in any order across pollers)."""
        if not messages:
            return
        if len(self._messages) + len(messages) > self._limit:
            self._messages.clear()
            self._complete = False
            return
        if self._messages and messages[0].seq < self._messages[-1].seq:  # two pollers' commits crossed
            self._messages = deque(sorted((*self._messages, *messages), key=lambda m: m.seq))
        else:
            self._messages.extend(messages)

    def take(self, cursor: int, limit: int) -> list[OutboxMessage] | None:
        """The next messages after `cursor` (at most `limit`), [] when there is provably nothing new, or None
        when only the outbox can say."""
        while self._messages and self._messages[0].seq <= cursor:
            self._messages.popleft()
        if not self._messages:
            return [] if self._complete else None
        if self._messages[0].seq != cursor + 1:
            self._complete = False
            return None
        run = [self._messages.popleft()]
        while self._messages and len(run) < limit and self._messages[0].seq == run[-1].seq + 1:
            run.append(self._messages.popleft())
        return run

    def caught_up(self) -> None:
        """The outbox had nothing after the live cursor: from now on what is offered is all there is."""
        self._complete = True

    def doubt(self) -> None:
        """Ask the outbox again before believing there is nothing new."""
        self._complete = False
