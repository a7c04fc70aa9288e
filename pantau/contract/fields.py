"""Field types shared by every message of the wire contract.

They carry the rules that must hold on both sides of MQTT: identifiers from a small slug alphabet
(safe as MQTT topic levels, InfluxDB tags and Grafana variables), timestamps always timezone-aware
and normalised to UTC, and numbers that are always finite.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, Strict, StringConstraints

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
    AfterValidator(_to_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]


def _require_finite(value: float) -> float:
    if not math.isfinite(value):
        msg = "non-finite numbers are never sent as numbers (send quality 'bad' instead)"
        raise ValueError(msg)
    return value


#: Every number in the contract: never NaN/inf. Strict, because pydantic would otherwise read `true` as 1.0
#: and "1.5" as 1.5: a boolean or a string where a measurement belongs is a producer bug to surface.
FiniteFloat = Annotated[float, Strict(), AfterValidator(_require_finite)]
