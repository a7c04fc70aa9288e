"""A refused frame, described for people at a distance: why (a reason code), which field, and its bytes.

The stream driver builds a `Reject` for every frame it cannot use and hands it to its `on_reject` callback
(the gateway samples them to the backend; `pantau records read` prints them). Reason codes are the
contract's `record_reject` reasons:

    checksum     the frame's checksum is missing or does not match
    framing      oversize, or a start marker without an end (the framer's BadFrame)
    bad_record   the record's shape: field count, length, a pattern that does not match as a whole
    bad_field    one field's value (the field is named)
    bad_sample   a weight-stream frame that is not a weight sample
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from drivers.serial_records.errors import ChecksumMismatch, MalformedRecord

RejectReason = Literal["checksum", "framing", "bad_record", "bad_field", "bad_sample"]
#: Fields that name the record as a whole rather than one of its values.
_WHOLE_RECORD: Final = frozenset({"record"})
_INDEX: Final = re.compile(r"\[\d+\]$")


@dataclass(frozen=True, slots=True)
class Reject:
    """One frame the driver could not use: when it arrived, why, and its first bytes (`raw`, bounded)."""

    at: datetime
    reason: RejectReason
    field: str | None
    problem: str
    raw: bytes
    frame_bytes: int

    @property
    def kind(self) -> tuple[str, str | None]:
        """What makes two rejects 'the same kind' for sampling: the reason and the field without its axle
        index (a bad `axle_weight[2]` and `axle_weight[5]` are one problem with the layout)."""
        return self.reason, _INDEX.sub("", self.field) if self.field else None

    @property
    def excerpt(self) -> str:
        """`raw` as printable text (see `printable`)."""
        return printable(self.raw)


def classify(exc: MalformedRecord, *, weight_stream: bool) -> RejectReason:
    """The reason code of a parse failure."""
    if isinstance(exc, ChecksumMismatch):
        return "checksum"
    if weight_stream:
        return "bad_sample"
    if exc.field is None or exc.field in _WHOLE_RECORD:
        return "bad_record"
    return "bad_field"


def printable(raw: bytes) -> str:
    """Bytes as ASCII text that survives JSON and a terminal: printable characters as they are, `\\\\` for a
    backslash, `\\xNN` for every other byte (so `\\x00\\xff...` reads as line noise or a wrong baud rate)."""
    out = []
    for byte in raw:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)
