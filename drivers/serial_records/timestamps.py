"""Reading and writing record timestamps as a profile prints them (strptime text, or an epoch count)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from pantau.profiles.records.profile import EpochTimestamps, TextTimestamps
from pantau.profiles.records.quantities import parse_integer

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_UNITS: Final = {
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
    "cs": timedelta(milliseconds=10),
}


def parse_timestamp(text: str, spec: TextTimestamps | EpochTimestamps) -> datetime:
    """The UTC time `text` denotes; ValueError with the reason when it is not a timestamp."""
    if isinstance(spec, EpochTimestamps):
        count = parse_integer(text)
        try:
            return _EPOCH + count * _EPOCH_UNITS[spec.unit]
        except OverflowError as exc:
            raise ValueError("is out of range for a timestamp") from exc
    try:
        wall_clock = datetime.strptime(text, spec.format)  # noqa: DTZ007 (zone from utc_offset, next line)
    except ValueError as exc:
        raise ValueError(f"does not match timestamp format {spec.format!r}") from exc
    return wall_clock.replace(tzinfo=spec.zone).astimezone(UTC)


def format_timestamp(ts: datetime, spec: TextTimestamps | EpochTimestamps) -> str:
    """`ts` as the device prints it (the inverse of parse_timestamp, to the format's resolution)."""
    if isinstance(spec, EpochTimestamps):
        return str((ts - _EPOCH) // _EPOCH_UNITS[spec.unit])
    local = ts.astimezone(spec.zone)
    fraction = f"{local.microsecond:06d}"[: spec.fraction_digits]
    return local.strftime(spec.format.replace("%f", fraction))


def timestamp_resolution(spec: TextTimestamps | EpochTimestamps) -> timedelta:
    """The smallest step the format can print (for round-trip comparisons and simulators)."""
    if isinstance(spec, EpochTimestamps):
        return _EPOCH_UNITS[spec.unit]
    if "%f" in spec.format:
        return timedelta(microseconds=10 ** (6 - spec.fraction_digits))
    return timedelta(seconds=1)
