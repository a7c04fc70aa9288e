"""What can go wrong with a record stream, as a small exception tree::

    SerialRecordsError
    ├── MalformedRecord          a frame that is not a valid record (field, value, raw excerpt)
    │   └── ChecksumMismatch     the frame's checksum does not match its payload
    ├── UnsupportedFormat        the encoder cannot write this profile's format (e.g. a regex layout)
    └── UnencodableRecord        a record value does not fit the format (too wide, contains a separator)

Transport failures are not in the tree: the stream driver handles `OSError`/timeouts itself by reconnecting.
"""

from __future__ import annotations

from typing import Final

#: How much of a bad frame is kept for the operator: enough to recognise the line, bounded for memory/logs.
RAW_EXCERPT_BYTES: Final = 200


def excerpt(raw: bytes) -> bytes:
    """The first RAW_EXCERPT_BYTES of a frame, for reports and logs."""
    return bytes(raw[:RAW_EXCERPT_BYTES])


class SerialRecordsError(Exception):
    """Base of every error this package raises on purpose."""


class MalformedRecord(SerialRecordsError):
    """A frame that cannot become a record; says which field, which value and what is wrong."""

    def __init__(
        self, problem: str, *, field: str | None = None, value: str | None = None, raw: bytes = b""
    ) -> None:
        self.problem = problem
        self.field = field
        self.value = value
        self.raw = excerpt(raw)
        super().__init__(self.describe())

    def describe(self) -> str:
        """`gvw: '12x4' is not a number`: the field first, then the offending value, then the problem."""
        where = f"{self.field}: " if self.field else ""
        shown = f"{self.value!r} " if self.value is not None else ""
        return f"{where}{shown}{self.problem}".strip()

    def attach_raw(self, raw: bytes) -> None:
        """Attach the frame (layers below the parser only see field texts)."""
        self.raw = excerpt(raw)


class ChecksumMismatch(MalformedRecord):
    """The checksum in the frame is missing, not hex, or does not match the payload."""


class UnsupportedFormat(SerialRecordsError, NotImplementedError):
    """The encoder has no way to write records in this profile's format."""


class UnencodableRecord(SerialRecordsError, ValueError):
    """A record the encoder cannot write in this format without changing its meaning."""

    def __init__(self, problem: str, *, field: str, value: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}: {value!r} {problem}")
