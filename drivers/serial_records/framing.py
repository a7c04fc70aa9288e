"""Framers: byte chunks as they arrive (split anywhere, with garbage) -> complete frames.

A framer never raises on input. What cannot be a frame comes out as a `BadFrame` (oversize, a start marker
with no end), so the driver can count and report it; bytes outside STX/ETX frames are only counted
(`skipped_bytes`), since some indicators pad between frames (CR LF after ETX) and that is not an error.
After an oversize frame the framer resynchronises at the next delimiter or start marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from drivers.serial_records.errors import excerpt
from pantau.profiles.records.profile import DelimiterFraming, Framing


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete frame's payload, markers removed."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes that looked like a frame but cannot be one; `raw` is bounded (errors.RAW_EXCERPT_BYTES)."""

    problem: str
    raw: bytes


class Framer(Protocol):
    """Turns a byte stream into frames; state lives between `feed` calls."""

    skipped_bytes: int

    def feed(self, chunk: bytes) -> Iterator[Frame | BadFrame]:
        """Add bytes; yield every frame (or bad frame) they complete."""
        ...

    def reset(self) -> int:
        """Forget a partial frame (after a reconnect, its rest will never come); returns bytes dropped,
        which also count in `skipped_bytes`."""
        ...


def make_framer(framing: Framing) -> Framer:
    """The framer for a profile's `framing` section."""
    if isinstance(framing, DelimiterFraming):
        return DelimiterFramer(framing.delimiter, framing.max_length)
    return StxEtxFramer(framing.start, framing.end, framing.max_length)


class _BufferedFramer:
    """What both framers share: the byte buffer, the count of bytes thrown away, and forgetting."""

    def __init__(self, max_length: int) -> None:
        self._max_length = max_length
        self._buffer = bytearray()
        self.skipped_bytes = 0

    def _drop_all_but_tail(self, keep: int) -> None:
        # The tail may be the first bytes of a multi-byte marker still arriving.
        dropped = max(len(self._buffer) - keep, 0)
        self.skipped_bytes += dropped
        del self._buffer[:dropped]

    def _forget_partial(self) -> None:
        """Reset the framer's own state about the frame in progress."""

    def reset(self) -> int:
        """Forget a partial frame; returns bytes dropped."""
        dropped = len(self._buffer)
        self.skipped_bytes += dropped
        self._buffer.clear()
        self._forget_partial()
        return dropped


class DelimiterFramer(_BufferedFramer):
    """Frames end at `delimiter`; empty frames (blank lines) are skipped silently."""

    def __init__(self, delimiter: bytes, max_length: int) -> None:
        super().__init__(max_length)
        self._delimiter = delimiter
        self._discarding = False  # inside an oversize frame: drop bytes up to the next delimiter

    def feed(self, chunk: bytes) -> Iterator[Frame | BadFrame]:
        """Add bytes; yield every frame (or bad frame) they complete."""
        self._buffer += chunk
        while (end := self._buffer.find(self._delimiter)) >= 0:
            payload = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._delimiter)]
            if self._discarding:
                self._discarding = False
                self.skipped_bytes += len(payload) + len(self._delimiter)
            elif len(payload) > self._max_length:
                yield _oversize(payload, self._max_length)
            elif payload:
                yield Frame(payload)
        # No delimiter left; the tail may hold the start of one, so keep len(delimiter) - 1 bytes of it.
        limit = self._max_length + len(self._delimiter) - 1
        if not self._discarding and len(self._buffer) > limit:
            yield _oversize(bytes(self._buffer), self._max_length)
            self._discarding = True
        if self._discarding:
            self._drop_all_but_tail(len(self._delimiter) - 1)

    def _forget_partial(self) -> None:
        self._discarding = False


class StxEtxFramer(_BufferedFramer):
    """Frames sit between `start` and `end`; a new start before the end means the end was lost."""

    def __init__(self, start: bytes, end: bytes, max_length: int) -> None:
        super().__init__(max_length)
        self._start = start
        self._end = end
        self._in_frame = False

    def feed(self, chunk: bytes) -> Iterator[Frame | BadFrame]:
        """Add bytes; yield every frame (or bad frame) they complete."""
        self._buffer += chunk
        while True:
            if not self._in_frame and not self._hunt_start():
                return
            end = self._buffer.find(self._end)
            restart = self._buffer.find(self._start)
            if restart >= 0 and (end < 0 or restart < end):
                yield BadFrame(
                    "frame without end marker (a new start marker came first)",
                    excerpt(bytes(self._buffer[:restart])),
                )
                del self._buffer[:restart]
                self._in_frame = False
                continue
            if end < 0:
                if len(self._buffer) > self._max_length + len(self._end) - 1:
                    yield _oversize(bytes(self._buffer), self._max_length)
                    self._in_frame = False
                    self._drop_all_but_tail(len(self._start) - 1)
                return
            payload = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._end)]
            self._in_frame = False
            yield _oversize(payload, self._max_length) if len(payload) > self._max_length else Frame(payload)

    def _hunt_start(self) -> bool:
        """Drop bytes before the next start marker; False when there is none yet."""
        start = self._buffer.find(self._start)
        if start < 0:
            self._drop_all_but_tail(len(self._start) - 1)
            return False
        self.skipped_bytes += start
        del self._buffer[: start + len(self._start)]
        self._in_frame = True
        return True

    def _forget_partial(self) -> None:
        self._in_frame = False


def _oversize(payload: bytes, max_length: int) -> BadFrame:
    return BadFrame(f"frame longer than max_length {max_length} bytes (resynchronising)", excerpt(payload))
