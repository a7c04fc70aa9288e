"""The decoder's fast path for readings messages: the same verdict as `decode`, a tenth of the cost.

Readings are nearly all of a backend's traffic, and validating them through the pydantic models (a union
by `kind`, a model per channel, Python validators per field) was the largest cost of ingest. Here the
payload is parsed once by msgspec into plain structs mirroring the `Readings` wire form (types, required
and unknown fields are checked in C), and the rules the structs cannot state (id and unit patterns, the
RFC 3339 spelling and 2000..2100 range of `ts`, int64 and finite numbers, lengths, a reading's quality
against its value and reason) are checked in Python, with the ids and units already seen remembered.

The fast path only ever says yes: anything it is not certain the models accept exactly as they are
(every refusal, and the odd spellings such as an integer past int64, a fraction of a second beyond
microseconds or a timestamp with a lower-case `t`) returns None, and the caller runs `decode`, which
accepts or explains. So what is accepted, and what is refused with which message, stays what
docs/contract.md says; tests/pantau/contract/test_fast.py checks the two against each other on
generated and mutated payloads.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec

from pantau.contract.codec import MAX_PAYLOAD_BYTES
from pantau.contract.errors import TopicError
from pantau.contract.fields import (
    EARLIEST_TIMESTAMP,
    INT64_MAX,
    INT64_MIN,
    LATEST_TIMESTAMP,
    REASON_PATTERN,
    SLUG_PATTERN,
)
from pantau.contract.messages import MAX_CHANNELS, SCHEMA_VERSION
from pantau.contract.topics import TopicKind, Topics

QualityName = Literal["good", "suspect", "bad", "missing", "clock_skew"]


class WireReading(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One channel as sent (`Reading`), checked by `decode_readings`."""

    value: int | float | None = None
    text: str | None = None
    unit: str | None = None
    quality: QualityName = "good"
    reason: str | None = None
    detail: str | None = None


class WireReadings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A readings message as sent (`Readings`); `schema_version` and `kind` are required on the wire."""

    schema_version: Literal[1]
    kind: Literal["readings"]
    site: str
    ts: str
    gateway: str
    seq: int
    device: str
    channels: dict[str, WireReading]


#: What a decoded message carries besides its fields: the instant of `ts`, in UTC.
FastReadings = tuple[WireReadings, datetime]

_DECODER: Final = msgspec.json.Decoder(WireReadings)
# fullmatch, not match with `$`: Python's `$` also matches before a final newline, pydantic's does not.
_SLUG: Final = re.compile(SLUG_PATTERN.removeprefix("^").removesuffix("$"))
_REASON: Final = re.compile(REASON_PATTERN.removeprefix("^").removesuffix("$"))
# Python's \s covers every character Unicode calls white space (and more), so this is never looser than
# the model's pattern.
_UNIT: Final = re.compile(r"[^\s\x00-\x1f]{1,16}")
# RFC 3339 as the models take it, narrowed to what `datetime.fromisoformat` reads the same way: upper-case
# `T` and `Z`, at most six digits of fraction. Other valid spellings go the models' way.
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_TEXT_MAX: Final = 256
#: Ids and units seen valid, so each is checked once (their number is bounded by the inventory); past the
#: bound a new one is checked every time, which is only slower.
_REMEMBERED_MAX: Final = 65_536
_known_ids: set[str] = set()
_known_units: set[str] = set()
_known_reasons: set[str] = set()


def decode_readings(payload: bytes, topic: str, topics: Topics) -> FastReadings | None:
    """The readings message in `payload` and its time, when the contract certainly accepts it as is on
    `topic` (a readings topic of its site and device); None otherwise: then `decode` gives the verdict."""
    ids = _readings_topic(topics, topic)
    if ids is None or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        message = _DECODER.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if not (_envelope_ok(message, ids) and all(map(_reading_ok, message.channels.values()))):
        return None
    at = _utc(message.ts)
    return None if at is None else (message, at)


# Topics repeat (one per device): each is parsed once. Any other topic is None, for `decode` to judge.
@functools.lru_cache(maxsize=65_536)
def _readings_topic(topics: Topics, topic: str) -> tuple[str, str] | None:
    try:
        ref = topics.parse(topic)
    except TopicError:
        return None
    readings = ref.kind is TopicKind.READINGS and ref.device is not None
    return (ref.site, ref.device) if readings and ref.device is not None else None


def _envelope_ok(message: WireReadings, ids: tuple[str, str]) -> bool:
    return (
        message.schema_version == SCHEMA_VERSION
        and (message.site, message.device) == ids
        and _is_id(message.site)
        and _is_id(message.gateway)
        and _is_id(message.device)
        and 0 <= message.seq <= INT64_MAX
        and 1 <= len(message.channels) <= MAX_CHANNELS
        and all(map(_is_id, message.channels))
    )


def _reading_ok(reading: WireReading) -> bool:
    return (
        _number_ok(reading.value)
        and (reading.unit is None or _is_unit(reading.unit))
        and (reading.text is None or _text_ok(reading.text))
        and (reading.detail is None or _text_ok(reading.detail))
        and (reading.reason is None or _is_reason(reading.reason))
        and _quality_ok(reading)
    )


def _number_ok(value: int | float | None) -> bool:
    if type(value) is float:
        return -1.8e308 < value < 1.8e308  # finite: NaN fails both comparisons, like the infinities
    if type(value) is int:
        return INT64_MIN <= value <= INT64_MAX  # the models keep a bigger one as a float: their way
    return value is None


def _quality_ok(reading: WireReading) -> bool:
    """Reading._quality_is_consistent, the same rules in the same terms."""
    has_payload = reading.value is not None or reading.text is not None
    has_reason = reading.reason is not None
    quality = reading.quality
    if quality == "missing":
        return not has_payload and has_reason
    if quality == "good":
        return has_payload and not has_reason
    if quality == "suspect":
        return has_payload and has_reason
    return has_reason  # bad, clock_skew


def _is_id(text: str) -> bool:
    return text in _known_ids or _remember(_known_ids, text, _SLUG.fullmatch(text) is not None)


def _is_unit(unit: str) -> bool:
    if unit in _known_units:
        return True
    return _remember(_known_units, unit, _UNIT.fullmatch(unit) is not None and _encodable(unit))


def _is_reason(reason: str) -> bool:
    return reason in _known_reasons or _remember(
        _known_reasons, reason, _REASON.fullmatch(reason) is not None
    )


def _text_ok(text: str) -> bool:
    return 1 <= len(text) <= _TEXT_MAX and (text.isascii() or _encodable(text))


def _encodable(text: str) -> bool:
    # A JSON escape can spell a lone surrogate, which is no character: leave such text to the models.
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _remember(known: set[str], text: str, valid: bool) -> bool:  # noqa: FBT001
    if valid and len(known) < _REMEMBERED_MAX:
        known.add(text)
    return valid


def _utc(text: str) -> datetime | None:
    if _TIME.fullmatch(text) is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # month 13, hour 24, second 60, offset past a day: the models explain
        return None
    at = parsed.astimezone(UTC)
    return at if EARLIEST_TIMESTAMP <= at < LATEST_TIMESTAMP else None
