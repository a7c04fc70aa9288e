"""Durations in config files: `"500ms"`, `"5s"`, `"5m"`, `"1h30m"`, `"7d"`; a bare number means seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Final

from pydantic import BeforeValidator, PlainSerializer

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def parse_duration(value: object) -> object:
    """Turn `"1h30m"` or `90` into a timedelta; leave other types for pydantic to reject."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _seconds(value, value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if not _WHOLE.fullmatch(text):
            raise ValueError(f"duration {value!r} is not like '500ms', '5s', '5m', '1h30m' or '7d'")
        return _seconds(sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text)), value)
    return value


def _seconds(seconds: float, written: object) -> timedelta:
    # timedelta raises OverflowError past 999999999 days (and for infinity), which pydantic does not turn
    # into a validation error: it escaped the config loaders as a traceback instead of naming the field.
    if not math.isfinite(seconds):
        raise ValueError(f"duration {written!r} is not a finite number of seconds")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {written!r} is too long (at most 999999999 days)") from None


def format_duration(value: timedelta) -> str:
    """The shortest spelling parse_duration reads back exactly (`"1h30m"`, `"500ms"`)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, total_ms = divmod(total_ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
