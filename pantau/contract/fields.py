"""Field types shared by every message of the wire contract.

They carry the rules that must hold on both sides of MQTT: identifiers from a small slug alphabet
(safe as MQTT topic levels, InfluxDB tags and Grafana variables), timestamps always timezone-aware
and normalised to UTC, and numbers that are always finite.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)

#: Identifiers of sites, devices, gateways, channels and rules: lower-case so `Ampal` and `ampal` can never
#: become two series; no `/`, `+`, `#` or `$` so an id can never change the meaning of an MQTT topic.
SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: Machine-readable reason codes (`timeout`, `modbus_exception_2`, `over_range`, ...).
REASON_PATTERN: Final = r"^[a-z][a-z0-9_]{0,47}$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
ReasonCode = Annotated[str, StringConstraints(pattern=REASON_PATTERN)]
#: Free text for people (details, messages). Bounded so one bad producer cannot bloat storage.
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
#: Short names: record ids, class names, level names, versions, operator names.
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
#: Units as printed on the device manual: `m`, `mm`, `mm/h`, `kg`, `km/h`, `dB`, `°C`.
Unit = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[^\s\x00-\x1f]+$")]

#: Timestamps earlier than this are a gateway with an unset clock (RTC battery gone), not data.
EARLIEST_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP: Final = datetime(2100, 1, 1, tzinfo=UTC)


#: RFC 3339 date-time as the contract spells it: seconds required, a zone required (`Z` or an offset).
_AFTER_YEAR: Final = r"-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?"
_ZONE: Final = r"([Zz]|[+-]\d{2}:\d{2})"
RFC3339_PATTERN: Final = rf"^\d{{4}}{_AFTER_YEAR}{_ZONE}$"
#: The same in the JSON Schema, with the years 2000..2099 (the models check the UTC instant). Spelled out
#: because `format: date-time` differs between validators (ajv-formats takes a space for the `T`).
SCHEMA_TIME_PATTERN: Final = rf"^20\d{{2}}{_AFTER_YEAR}{_ZONE}$"


def _rfc3339_text(value: object) -> object:
    # pydantic alone would also take a Unix number, a space for the `T` or a time without seconds: none of
    # them is RFC 3339, which is what the contract (and its JSON Schema `format: date-time`) promises.
    if isinstance(value, bool | int | float):
        raise ValueError("a time is an RFC 3339 string like 2026-11-28T06:00:00Z, not a number")  # noqa: TRY004
    if isinstance(value, str) and not re.fullmatch(RFC3339_PATTERN, value):
        naive = re.fullmatch(rf"\d{{4}}{_AFTER_YEAR}", value)
        zone = " (it has no timezone: add Z or an offset)" if naive else ""
        raise ValueError(f"{value!r} is not an RFC 3339 datetime like 2026-11-28T06:00:00Z{zone}")
    return value


def _to_utc(value: datetime) -> datetime:
    utc = value.astimezone(UTC)
    if not EARLIEST_TIMESTAMP <= utc < LATEST_TIMESTAMP:
        msg = f"timestamp {utc.isoformat()} is outside 2000..2100 (is the gateway clock set?)"
        raise ValueError(msg)
    return utc


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` and microseconds, the one spelling every message uses."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_to_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    # The year bound is what JSON Schema can say of 2000..2100; an offset across a year's edge is listed in
    # docs/contract.md as not expressible.
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": SCHEMA_TIME_PATTERN}),
]

#: Every number in the contract: never NaN/inf. Strict, because pydantic would otherwise read `true` as 1.0
#: and "1.5" as 1.5: a boolean or a string where a measurement belongs is a producer bug to surface.
#: A constraint (`AllowInfNan`), not a validator after the fact: bounds given with `Field(ge=...)` then stay
#: on the number and reach the JSON Schema as `minimum`/`maximum` (after a validator, pydantic wrote them out
#: as `ge`/`le`, which no JSON Schema validator reads).
FiniteFloat = Annotated[float, Strict(), AllowInfNan(allow_inf_nan=False)]
#: Integers (sequence numbers, counts, lanes) are strict for the same reason: `"5"` or `true` is refused.
#: Every use bounds it (`Field(ge=..., le=...)`) within what storage holds (INT64_MAX).
Count = Annotated[int, Strict()]

#: The integers both storages hold (InfluxDB integer fields and SQLite INTEGER are signed 64-bit): a count
#: beyond it passed the contract and was then refused by storage, far from the message that carried it.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: Running totals (requests, errors, outbox depth): from 0 to what storage holds.
Counter = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
#: An integer measurement kept exact (a long-running counter, a code): JSON doubles hold integers exactly
#: only up to 2**53, so an integer reading stays an integer end to end, within storage's int64.
ExactInt = Annotated[int, Strict(), Field(ge=INT64_MIN, le=INT64_MAX)]


def _one_number(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    # Both branches of the union fail alike on a string, a boolean or NaN: one problem for the field, not
    # one per branch (`value.constrained-int: ...; value.float: ...`).
    try:
        return handler(value)
    except ValidationError:
        what = {bool: "a boolean", str: "a string", float: f"{value} (non-finite)"}.get(type(value), "this")
        raise ValueError(f"{what} is not a valid number (an integer or a finite float)") from None


#: A reading's number: an integer stays an integer (exact), anything else is a finite float. A JSON integer
#: beyond int64 is a float (rounded), like any other number too large to count.
ReadingNumber = Annotated[ExactInt | FiniteFloat, WrapValidator(_one_number)]
