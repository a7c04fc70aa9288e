"""Frames -> `VehicleRecord`s: checksum, ASCII, layout (layouts.py), then meaning (units, codes, time).

`RecordParser.parse` either returns a record valid under the contract or raises `MalformedRecord` naming
the field and value; any other exception from it is a bug (a property test feeds it random bytes).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import ValidationError

from drivers.serial_records.checksum import split_checksum
from drivers.serial_records.errors import MalformedRecord
from drivers.serial_records.layouts import PrintedFields, cut_record
from drivers.serial_records.records import VehicleRecord, describe_validation_error
from drivers.serial_records.timestamps import parse_timestamp
from pantau.contract.messages import Quality, Reason
from pantau.contract.vehicle_class import normalise_class_code
from pantau.profiles.records.layouts import DelimitedLayout, FixedLayout, RegexLayout
from pantau.profiles.records.profile import RecordProfile, ValueMapping
from pantau.profiles.records.quantities import Quantity, parse_integer, scaled, unit_factor
from pantau.profiles.records.vehicle_classes import apply_class

#: Reason for a record whose printed GVW is not the sum of its axle loads within the profile's tolerance.
GVW_MISMATCH_REASON: Final = "gvw_axle_sum_mismatch"
#: Reason for a record whose class (values.classes) has another number of axles than the record lists.
CLASS_AXLES_REASON: Final = "class_axle_count_mismatch"
#: Control characters no record prints (C0 but tab, CR, LF; DEL; C1): line noise even where the encoding
#: decodes them (latin-1 decodes every byte).
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def decode_text(payload: bytes, encoding: str = "ascii") -> str:
    """The record's text in the profile's encoding; bytes that are no text there, or control characters,
    are line noise or a wrong baud rate, reported with their position."""
    try:
        text = payload.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MalformedRecord(
            f"byte 0x{payload[exc.start]:02x} at position {exc.start} is not "
            f"{'ASCII' if encoding == 'ascii' else encoding} (wrong baud rate, or another encoding?)",
            field="record",
        ) from exc
    control = _CONTROL.search(text)
    if control is not None:
        raise MalformedRecord(
            f"control character {control.group()!r} at position {control.start()} (wrong baud rate?)",
            field="record",
        )
    return text


class RecordParser:
    """Parses the frames of one record profile (delimited, fixed or regex format)."""

    def __init__(self, profile: RecordProfile) -> None:
        if not isinstance(profile.format, DelimitedLayout | FixedLayout | RegexLayout):
            raise TypeError(f"profile '{profile.id}' is a weight stream: use weighbridge.SampleParser")
        self._profile = profile
        self._layout: DelimitedLayout | FixedLayout | RegexLayout = profile.format

    def parse(self, frame: bytes, *, received_at: datetime) -> VehicleRecord:
        """The record in `frame`; `received_at` (UTC) stamps records whose format has no timestamp."""
        try:
            payload = frame
            if self._profile.checksum is not None:
                separator = self._layout.separator if isinstance(self._layout, DelimitedLayout) else None
                payload = split_checksum(frame, self._profile.checksum, separator)
            printed = cut_record(decode_text(payload, self._profile.encoding), self._layout)
            return build_record(printed, self._profile.values, self._profile.source, received_at)
        except MalformedRecord as exc:
            exc.attach_raw(frame)
            raise


class _Reader:
    """Typed access to printed fields; every failure names the field and the printed value."""

    def __init__(self, printed: PrintedFields, values: ValueMapping) -> None:
        self.printed = printed
        self.values = values

    def text(self, name: str) -> str | None:
        text = self.printed.values.get(name)
        return None if text is None or text in self.values.absent else text

    def number(self, name: str, text: str | None, unit: str, quantity: Quantity) -> float | None:
        if text is None or text in self.values.absent:
            return None
        try:
            return scaled(text, unit, quantity)
        except ValueError as exc:
            raise MalformedRecord(str(exc), field=name, value=text) from exc

    def integer(self, name: str) -> int | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return parse_integer(text)
        except ValueError as exc:
            raise MalformedRecord(str(exc), field=name, value=text) from exc


def build_record(
    printed: PrintedFields,
    values: ValueMapping,
    source: Literal["wim", "weighbridge"],
    received_at: datetime,
) -> VehicleRecord:
    """Give printed fields their meaning and validate the result as a contract vehicle."""
    read = _Reader(printed, values)
    units = values.units
    axles = _axles(read)
    gvw = read.number("gvw", read.text("gvw"), units.gvw, Quantity.MASS)
    # Doubts in order of weight: the controller's own error, then GVW against the axles, then the class.
    doubts: list[str] = []
    if gvw is None:
        if not axles:
            raise MalformedRecord("is missing and there are no axle loads to add up", field="gvw")
        gvw = sum(axle["load_kg"] for axle in axles)
    elif axles and not _gvw_fits_axles(gvw, axles, values.gvw_tolerance_pct, _rounding_kg(read)):
        doubts.append(GVW_MISMATCH_REASON)
    error_code = read.text("error_code")
    if error_code is not None and error_code in values.no_error:
        error_code = None
    if error_code:
        doubts.insert(0, Reason.DEVICE_ERROR)
    vehicle_class = read.text("vehicle_class")
    if vehicle_class is not None:
        vehicle_class = normalise_class_code(vehicle_class)
    groups = _groups(axles, values.group_spacing_max_m)
    known_class = values.classes.get(vehicle_class) if vehicle_class is not None else None
    if known_class is not None and axles:
        classed = apply_class(known_class, axles)
        if classed is None:
            doubts.append(CLASS_AXLES_REASON)
        else:
            axles, groups = classed.axles, classed.groups
    dimensions = {
        f"{name}_m": read.number(name, read.text(name), units.dimensions, Quantity.LENGTH)
        for name in ("length", "width", "height")
    }
    fields: dict[str, Any] = {
        "ts": _timestamp(read, received_at),
        "source": source,
        "record_id": read.text("record_id"),
        "lane": read.integer("lane"),
        "direction": _direction(read),
        "speed_kmh": read.number("speed", read.text("speed"), units.speed, Quantity.SPEED),
        "gvw_kg": gvw,
        "axles": axles,
        "groups": groups,
        "vehicle_class": vehicle_class,
        "dimensions": {k: v for k, v in dimensions.items() if v is not None} or None,
        "error_code": error_code,
        # A doubt makes the whole record doubtful, not worthless: keep it, flag it with the first reason.
        "quality": Quality.SUSPECT if doubts else Quality.GOOD,
        "reason": doubts[0] if doubts else None,
    }
    try:
        return VehicleRecord.model_validate(fields)
    except ValidationError as exc:
        raise MalformedRecord(f"not a valid vehicle: {describe_validation_error(exc)}") from exc


def _gvw_fits_axles(
    gvw: float, axles: list[dict[str, Any]], tolerance_pct: float | None, rounding_kg: float
) -> bool:
    """Whether the printed GVW is the sum of the axle loads within `tolerance_pct` of the larger of the two,
    or within what rounding each printed figure can explain (a 150 kg motorcycle in 10 kg steps).

    Controllers print GVW as that sum (rounded); a layout reading the wrong columns as loads, or a failing
    axle sensor, shows here first.
    """
    if tolerance_pct is None:
        return True
    total: float = sum(axle["load_kg"] for axle in axles)
    return abs(gvw - total) <= max(max(gvw, total) * tolerance_pct / 100, rounding_kg)


def _rounding_kg(read: _Reader) -> float:
    """Half a printed step of the GVW and of each axle load, added up: the most rounding can explain."""
    units = read.values.units
    texts = [(read.printed.values.get("gvw", ""), units.gvw)]
    texts += [(text, units.axle_load) for text in read.printed.axles.get("axle_weight", [])]
    steps = Decimal(0)
    for text, unit in texts:
        _, point, decimals = text.partition(".")
        steps += unit_factor(unit, Quantity.MASS) * Decimal(10) ** -(len(decimals) if point else 0)
    return float(steps / 2)


def _timestamp(read: _Reader, received_at: datetime) -> datetime:
    spec = read.values.timestamps
    if spec is None:  # the format has no time fields: the gateway's clock stamps the record
        return received_at
    if "ts" in read.printed.values:
        name, text = "ts", read.printed.values["ts"]
    else:
        name, text = (
            "date/time",
            f"{read.printed.values.get('date', '')} {read.printed.values.get('time', '')}",
        )
    if not text.strip():
        raise MalformedRecord("is missing", field=name)
    try:
        return parse_timestamp(text, spec)
    except ValueError as exc:
        raise MalformedRecord(str(exc), field=name, value=text) from exc


def _direction(read: _Reader) -> str | None:
    code = read.text("direction")
    if code is None:
        return None
    # Unmapped codes pass lower-cased; the contract's slug rule then rejects anything unusable.
    return read.values.directions.get(code, code.lower())


def _axles(read: _Reader) -> list[dict[str, Any]]:
    printed, units = read.printed, read.values.units
    loads = printed.axles.get("axle_weight", [])
    if "axle_count" in printed.values and printed.axles:
        count = read.integer("axle_count")
        if count != len(loads):
            raise MalformedRecord(f"says {count} axles but {len(loads)} are listed", field="axle_count")
    axles: list[dict[str, Any]] = []
    spacings = printed.axles.get("axle_spacing", [])
    tyres = printed.axles.get("axle_tyres", [])
    for index, load_text in enumerate(loads):
        load = read.number(f"axle_weight[{index}]", load_text, units.axle_load, Quantity.MASS)
        if load is None:
            raise MalformedRecord("is missing", field=f"axle_weight[{index}]")
        axle: dict[str, Any] = {"load_kg": load}
        if index < len(spacings):
            name = f"axle_spacing[{index}]"
            axle["spacing_m"] = read.number(name, spacings[index], units.spacing, Quantity.LENGTH)
        if index < len(tyres) and tyres[index] not in read.values.absent:
            axle["tyres"] = _tyres(read.values, index, tyres[index])
        axles.append(axle)
    return axles


def _tyres(values: ValueMapping, index: int, code: str) -> str:
    if code not in values.tyres:
        known = ", ".join(sorted(values.tyres))
        raise MalformedRecord(f"is not a tyre code ({known})", field=f"axle_tyres[{index}]", value=code)
    return values.tyres[code]


def _groups(axles: list[dict[str, Any]], max_spacing_m: float | None) -> list[int] | None:
    """Axle groups from spacings: an axle closer than `max_spacing_m` to the one before joins its group."""
    spacings = [axle.get("spacing_m") for axle in axles[:-1]]
    if max_spacing_m is None or not axles or any(s is None for s in spacings):
        return None
    groups = [1]
    for spacing in spacings:
        if spacing is not None and spacing < max_spacing_m:
            groups[-1] += 1
        else:
            groups.append(1)
    return groups
