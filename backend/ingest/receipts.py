"""Receipts: the backend's end-to-end acknowledgement to each gateway (pantau.contract.Receipt).

A broker's PUBACK to the gateway only says the broker has a message. After an ingest batch is durable (in the
spool, or in the dead-letter store with its reason), the worker tells each gateway which of its sequence
numbers it took, one receipt per gateway and batch, as ranges. The gateway keeps every message until a
receipt names it, and sends again what a later receipt shows was skipped (gateway/receipts.py).

Dead letters are confirmed too when the sender can be read from them: they are durably kept with the reason,
and sending them again would only dead-letter them again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from pantau.contract import ContractError, Receipt, SeqRange, Topics, check_id, encode
from pantau.contract.fields import INT64_MAX
from pantau.contract.messages import MAX_RECEIPT_RANGES

#: (site, gateway, seq) of one message taken.
Sender = tuple[str, str, int]
#: A message to publish after the batch is acknowledged: (topic, payload).
Reply = tuple[str, bytes]


def sender_of_dead_letter(topic: str, payload: bytes, topics: Topics) -> Sender | None:
    """The site (from the topic), gateway and seq a dead letter says it came from, when it says so
    plainly; None for anything else (it is then not confirmed, and the gateway's resends are bounded)."""
    try:
        site = topics.parse(topic).site
        document = json.loads(payload)
    except (ContractError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    gateway, seq = document.get("gateway"), document.get("seq")
    if not isinstance(gateway, str) or type(seq) is not int or not 0 <= seq <= INT64_MAX:
        return None
    try:
        check_id(gateway, "gateway")
    except ContractError:  # not a slug: nothing a gateway of ours would send
        return None
    return site, gateway, seq


def receipts(senders: list[Sender], *, source: str, now: datetime, topics: Topics) -> list[Reply]:
    """One receipt per (site, gateway) for the messages of a batch (more when they need more ranges than
    one receipt carries)."""
    by_gateway: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for site, gateway, seq in senders:
        by_gateway[site, gateway].add(seq)
    replies = []
    for (site, gateway), seqs in sorted(by_gateway.items()):
        ranges = list(_ranges(sorted(seqs)))
        for start in range(0, len(ranges), MAX_RECEIPT_RANGES):
            receipt = Receipt(
                site=site,
                gateway=gateway,
                source=source,
                ts=now,
                seqs=ranges[start : start + MAX_RECEIPT_RANGES],
            )
            replies.append((topics.receipts(site), encode(receipt)))
    return replies


def _ranges(seqs: list[int]) -> Iterator[SeqRange]:
    first = last = seqs[0]
    for seq in seqs[1:]:
        if seq != last + 1:
            yield SeqRange(first=first, last=last)
            first = seq
        last = seq
    yield SeqRange(first=first, last=last)
