"""Gateways' samples of refused records (`record_reject` messages), as entries of the dead-letter store.

They sit next to the messages the backend refused itself, under their own reason, so
`pantau backend deadletter list --reason record_reject` shows what the field's record streams refuse.
"""

from __future__ import annotations

from typing import Final

from pantau.contract import RecordReject

#: The dead-letter reason of a gateway's reject sample (the backend's own reasons are the contract's).
RECORD_REJECT: Final = "record_reject"


def describe_reject(message: RecordReject) -> str:
    """One line for the dead-letter list: device, reason, the problem, and how many like it went unsent."""
    more = f" (+{message.unsampled} more of this kind not sampled)" if message.unsampled else ""
    return f"{message.device}: {message.reason}: {message.problem}{more}"
