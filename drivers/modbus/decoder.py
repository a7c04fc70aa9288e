"""Raw poll results -> contract Readings, channel by channel, with quality flags.

`_raw_value` and `_reading` say what a channel's words mean; a device runs them compiled per channel
(drivers/modbus/compiled.py), with these as the reference and the path of the channels it does not compile.

Pure apart from the counter memory a device keeps between polls (rain totals). A failed request marks
only its own channels missing; everything else in the poll is still decoded and published.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from drivers.modbus.codec import DecodeError, decode_bit, decode_byte, decode_number, decode_string
from drivers.modbus.compiled import ReadingBuilder, Unpacker, compile_reading, compile_unpacker
from pantau.contract import Quality, Reading, Reason
from pantau.contract.fields import INT64_MAX, INT64_MIN
from pantau.profiles.modbus.profile import ChannelSpec, DataType, DerivedKind, DerivedSpec, ModbusProfile

#: Decimal-places registers beyond this are a wiring or map error, not a real transmitter setting.
MAX_DECIMALS: Final = 6


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """Why a channel's request produced no data (reason code as in the contract, plus detail)."""

    reason: str
    detail: str | None = None


#: What a poll delivers per channel: its raw words/bits, or why there are none.
RawResult = list[int] | ReadFailure


@dataclass(frozen=True, slots=True)
class _Channel:
    """A channel with its decoding compiled (drivers/modbus/compiled.py); `reading` None: the reference's."""

    spec: ChannelSpec
    unpack: Unpacker
    reading: ReadingBuilder | None


_NOT_READ: Final = ReadFailure("not_read")


@dataclass
class DeviceDecoder:
    """Decodes polls of one device; remembers counter values between polls."""

    profile: ModbusProfile
    params: Mapping[str, float] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Compiled once per device, not per poll: the profile does not change under a running device.
        self._channels = tuple(
            _Channel(spec, compile_unpacker(spec, functools.partial(_raw_value, spec)), compile_reading(spec))
            for spec in self.profile.channels
        )
        self._internal = frozenset(spec.id for spec in self.profile.channels if spec.internal)

    def decode(self, raw: Mapping[str, RawResult]) -> dict[str, Reading]:
        """Readings for every published channel and derived channel of the profile."""
        values: dict[str, int | float | str] = {}
        readings: dict[str, Reading] = {}
        for channel in self._channels:
            spec = channel.spec
            result = raw.get(spec.id, _NOT_READ)
            if isinstance(result, ReadFailure):
                readings[spec.id] = Reading.missing(result.reason, result.detail, unit=spec.unit)
                continue
            try:
                values[spec.id] = channel.unpack(result)
            except DecodeError as exc:
                readings[spec.id] = Reading(
                    unit=spec.unit, quality=Quality.BAD, reason="decode", detail=str(exc)
                )
        for channel in self._channels:
            cid = channel.spec.id
            if cid not in readings:
                build = channel.reading
                readings[cid] = build(values[cid]) if build is not None else _reading(channel.spec, values)
        for derived in self.profile.derived:
            readings[derived.id] = self._derive(derived, readings[derived.source], values.get(derived.source))
        if not self._internal:
            return readings
        return {cid: reading for cid, reading in readings.items() if cid not in self._internal}

    def _derive(self, spec: DerivedSpec, source: Reading, raw: int | float | str | None) -> Reading:
        if source.value is None or source.quality in (Quality.BAD, Quality.MISSING):
            return Reading.missing(
                "source_unavailable", f"'{spec.source}' is {source.quality}", unit=spec.unit
            )
        if spec.kind is DerivedKind.COUNTER_INCREMENT:
            reading = self._increment(spec, raw)
        else:
            param = self.params.get(spec.param or "")
            if param is None:
                return Reading.missing(
                    "not_configured", f"site parameter '{spec.param}' is not set", spec.unit
                )
            value = param - source.value if spec.kind is DerivedKind.HEIGHT_MINUS else param + source.value
            reading = Reading(value=_tidy(value), unit=spec.unit)
        if reading.value is not None and source.quality is Quality.SUSPECT:
            return reading.model_copy(update={"quality": Quality.SUSPECT, "reason": source.reason})
        return _check_range(reading, spec.range)

    def _increment(self, spec: DerivedSpec, raw: int | float | str | None) -> Reading:
        if not isinstance(raw, int):
            return Reading.missing("decode", f"counter '{spec.source}' is not an integer", spec.unit)
        previous = self._counters.get(spec.source)
        self._counters[spec.source] = raw
        if previous is None:
            return Reading.missing(
                "no_previous_sample", "first poll since start: no increment yet", spec.unit
            )
        delta, reason = counter_delta(previous, raw, spec.counter_bits)
        reading = Reading(value=_scaled(delta, spec.scale, 0.0), unit=spec.unit)
        if reason is not None:
            return reading.model_copy(update={"quality": Quality.SUSPECT, "reason": reason})
        return reading


def counter_delta(previous: int, current: int, bits: int) -> tuple[int, str | None]:
    """Increase of a counter, with a reason when it is a guess.

    A counter that went down either wrapped (it was near its maximum) or restarted from zero after a power
    loss. A wrap is exact. After a reset the best estimate is the new count since power-on; what fell between
    the last poll and the outage is lost, so the increment is flagged `counter_reset`.
    """
    if current >= previous:
        return current - previous, None
    modulus = 1 << bits
    wrapped = current + modulus - previous
    # A real wrap leaves a small step; a reset looks like a huge one. Half the range separates them.
    if wrapped < modulus // 2 and previous >= modulus // 2:
        return wrapped, None
    return current, "counter_reset"


def _raw_value(spec: ChannelSpec, words: list[int]) -> int | float | str:
    # A reply shorter or longer than the channel (a device answering fewer registers than asked) is a
    # decode failure of that channel; a bit or byte channel took words[0] and raised IndexError on none.
    if len(words) != spec.register_count:
        raise DecodeError(f"expected {spec.register_count} registers, got {len(words)}")
    if spec.type is DataType.STRING:
        return decode_string(words, spec.order, spec.byte)
    if spec.type is DataType.BIT:
        return int(bool(words[0])) if spec.table.is_bits else decode_bit(words[0], spec.bit or 0)
    if spec.type in (DataType.INT8, DataType.UINT8) and spec.byte is not None:
        return decode_byte(words[0], spec.byte, signed=spec.type is DataType.INT8)
    return decode_number(words, spec.type, spec.order)


def _reading(spec: ChannelSpec, values: Mapping[str, int | float | str]) -> Reading:  # noqa: PLR0911 - one exit per quality rule
    raw = values[spec.id]
    if isinstance(raw, str):
        return (
            Reading(text=raw) if raw else Reading(quality=Quality.BAD, reason="empty", detail="blank string")
        )
    if spec.type.is_float and not math.isfinite(raw):
        return Reading.measured(raw, spec.unit)
    if isinstance(raw, int) and spec.decimals_from is None and spec.unit_from is None:
        exact = _scaled(raw, spec.scale, spec.offset)
        if isinstance(exact, int):  # an integer stays exact end to end (a counter past 2**53)
            return _checked(Reading(value=exact, unit=spec.unit), spec, raw, values)
    value = float(raw)
    if spec.decimals_from is not None:
        decimals = values.get(spec.decimals_from)
        if not isinstance(decimals, int):
            return Reading.missing(
                "scale_unavailable", f"decimals channel '{spec.decimals_from}' unread", spec.unit
            )
        if not 0 <= decimals <= MAX_DECIMALS:
            detail = f"decimals register '{spec.decimals_from}' = {decimals}, expected 0..{MAX_DECIMALS}"
            return Reading(unit=spec.unit, quality=Quality.BAD, reason="bad_scale", detail=detail)
        value = value / 10**decimals
    value = value * spec.scale + spec.offset
    if spec.unit_from is not None:
        code = values.get(spec.unit_from.channel)
        factor = spec.unit_from.factors.get(code) if isinstance(code, int) else None
        if factor is None:
            known = sorted(spec.unit_from.factors)
            detail = f"unit code {code!r} in '{spec.unit_from.channel}' is not one of {known}"
            return Reading(unit=spec.unit, quality=Quality.BAD, reason="unknown_unit", detail=detail)
        value *= factor
    if not math.isfinite(value):  # a huge float64 times its scale: over range, never a crash
        return Reading.measured(value, spec.unit)
    if value != float(raw):  # only arithmetic leaves binary noise; an untouched value passes as read
        value = _tidy(value)
    return _checked(Reading(value=value, unit=spec.unit), spec, raw, values)


def _checked(
    reading: Reading, spec: ChannelSpec, raw: float, values: Mapping[str, int | float | str]
) -> Reading:
    """A decoded number with its enum name, the device's own invalid flags and the physical range applied."""
    value = reading.value
    if spec.enum is not None and value is not None:
        name = spec.enum.get(int(raw))
        reading = Reading(value=value, text=name) if name else _suspect(value, "unknown_code", f"code {raw}")
    reading = _check_invalid_when(reading, spec, values)
    return _check_range(reading, spec.range)


def _scaled(raw: int, scale: float, offset: float) -> int | float:
    """`raw * scale + offset`, as an exact integer when both are whole numbers and the result fits the
    contract's int64 (storage's integers); otherwise a float with the binary noise tidied away."""
    if scale.is_integer() and offset.is_integer():
        exact = raw * int(scale) + int(offset)
        if INT64_MIN <= exact <= INT64_MAX:
            return exact
        return float(exact)  # a uint64 past int64: the float storage can hold, rounded
    return _tidy(raw * scale + offset)


def _check_invalid_when(
    reading: Reading, spec: ChannelSpec, values: Mapping[str, int | float | str]
) -> Reading:
    for other, codes in (spec.invalid_when or {}).items():
        code = values.get(other)
        if isinstance(code, int) and code in codes:
            return reading.model_copy(
                update={"quality": Quality.BAD, "reason": Reason.DEVICE_STATUS, "detail": f"{other} = {code}"}
            )
    return reading


def _check_range(reading: Reading, bounds: tuple[float, float] | None) -> Reading:
    if bounds is None or reading.value is None or reading.quality is not Quality.GOOD:
        return reading
    low, high = bounds
    if low <= reading.value <= high:
        return reading
    detail = f"{reading.value:g} outside the physical range {low:g}..{high:g}"
    return reading.model_copy(
        update={"quality": Quality.SUSPECT, "reason": Reason.OUT_OF_PHYSICAL_RANGE, "detail": detail}
    )


def _suspect(value: float, reason: str, detail: str) -> Reading:
    return Reading(value=value, quality=Quality.SUSPECT, reason=reason, detail=detail)


def _tidy(value: float) -> float:
    # Scaling adds binary noise (2173 * 0.001 = 2.1730000000000005); 12 significant digits is far beyond
    # any sensor's resolution and reads back as the number a person expects.
    return float(f"{value:.12g}")
