"""The parser's inverse, for simulators and tests: records and weight samples -> complete frames.

Only layouts with an unambiguous inverse are written: delimited and fixed records, and weight streams that
declare an `output_template`. A regex layout raises UnsupportedFormat (a pattern says how to read a
record, not how to print one). Numbers are written in the profile's units with `values.units.decimals`
places, so encode -> parse returns the record to the format's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.serial_records.checksum import append_checksum
from drivers.serial_records.errors import UnencodableRecord, UnsupportedFormat
from drivers.serial_records.records import VehicleRecord
from drivers.serial_records.timestamps import format_timestamp
from pantau.profiles.records.layouts import (
    AXLES_MARKER,
    DelimitedLayout,
    FieldSlot,
    FixedLayout,
    WeightStatus,
    WeightStreamLayout,
)
from pantau.profiles.records.profile import DelimiterFraming, Framing, RecordProfile, UnitField, ValueMapping
from pantau.profiles.records.quantities import Quantity, unscaled


def encode_record(record: VehicleRecord, profile: RecordProfile) -> bytes:
    """`record` as one complete frame of `profile`'s format (markers and checksum included)."""
    layout = profile.format
    if isinstance(layout, WeightStreamLayout):
        raise UnsupportedFormat(f"profile '{profile.id}' is a weight stream: use encode_weight_frame")
    if not isinstance(layout, DelimitedLayout | FixedLayout):
        raise UnsupportedFormat(
            f"profile '{profile.id}' reads records with a regex, which has no inverse; "
            "simulate this controller with a delimited or fixed profile"
        )
    printed = _printed(record, profile.values)
    if isinstance(layout, DelimitedLayout):
        text = layout.separator.join(_delimited_values(printed, layout))
    else:
        text = "".join(_fixed_columns(printed, layout))
    payload = _encoded(text, profile)
    if profile.checksum is not None:
        separator = layout.separator if isinstance(layout, DelimitedLayout) else None
        payload = append_checksum(payload, profile.checksum, separator)
    return frame_payload(payload, profile.framing)


def encode_weight_frame(weight_kg: float | None, status: WeightStatus, profile: RecordProfile) -> bytes:
    """One weight-stream sample as a complete frame (e.g. R320 `<STX><SIGN><WEIGHT><STATUS><ETX>`).

    `weight_kg` None prints no number, as indicators do for some error and overload states.
    """
    layout = profile.format
    if not isinstance(layout, WeightStreamLayout) or layout.output_template is None:
        raise UnsupportedFormat(f"profile '{profile.id}' has no weight-stream output_template to write with")
    codes = [code for code, meaning in layout.statuses.items() if meaning is status]
    if not codes:
        raise UnencodableRecord("has no status code in this profile", field="status", value=str(status))
    weight = (
        ""
        if weight_kg is None
        else unscaled(abs(weight_kg), layout.weight_unit, Quantity.MASS, layout.weight_decimals)
    )
    sign = "-" if weight_kg is not None and weight_kg < 0 else layout.positive_sign
    text = layout.output_template.format(sign=sign, weight=weight, status=codes[0])
    payload = _encoded(text, profile)
    if profile.checksum is not None:
        payload = append_checksum(payload, profile.checksum)
    return frame_payload(payload, profile.framing)


def _encoded(text: str, profile: RecordProfile) -> bytes:
    try:
        return text.encode(profile.encoding)
    except UnicodeEncodeError as exc:
        raise UnencodableRecord(
            f"has characters the device's {profile.encoding} cannot print", field="record", value=text
        ) from exc


def frame_payload(payload: bytes, framing: Framing) -> bytes:
    """Wrap a payload in the profile's framing; refuses payloads the framer would cut differently."""
    markers = [framing.delimiter] if isinstance(framing, DelimiterFraming) else [framing.start, framing.end]
    if any(marker in payload for marker in markers):
        raise UnencodableRecord("contains a framing marker", field="record", value=payload.decode("latin-1"))
    if len(payload) > framing.max_length:
        raise UnencodableRecord(
            f"is longer than max_length {framing.max_length}", field="record", value="..."
        )
    if isinstance(framing, DelimiterFraming):
        return payload + framing.delimiter
    return framing.start + payload + framing.end


@dataclass(frozen=True, slots=True)
class _Printed:
    """What each field of a record prints as, in the profile's units and codes."""

    values: dict[str, str]
    axles: dict[str, list[str]]


def _printed(record: VehicleRecord, mapping: ValueMapping) -> _Printed:
    units, places = mapping.units, mapping.units.decimals
    absent = mapping.absent[0] if mapping.absent else ""

    def number(value: float | None, unit: str, quantity: Quantity, name: UnitField) -> str:
        return absent if value is None else unscaled(value, unit, quantity, places.get(name, 0))

    dims = record.dimensions
    directions = {slug: code for code, slug in mapping.directions.items()}
    values = {
        "record_id": record.record_id or absent,
        "lane": absent if record.lane is None else str(record.lane),
        "direction": absent
        if record.direction is None
        else directions.get(record.direction, record.direction),
        "speed": number(record.speed_kmh, units.speed, Quantity.SPEED, "speed"),
        "gvw": number(record.gvw_kg, units.gvw, Quantity.MASS, "gvw"),
        "axle_count": str(len(record.axles)),
        "vehicle_class": record.vehicle_class or absent,
        "length": number(dims.length_m if dims else None, units.dimensions, Quantity.LENGTH, "dimensions"),
        "width": number(dims.width_m if dims else None, units.dimensions, Quantity.LENGTH, "dimensions"),
        "height": number(dims.height_m if dims else None, units.dimensions, Quantity.LENGTH, "dimensions"),
        "error_code": record.error_code or (mapping.no_error[0] if mapping.no_error else absent),
    }
    if mapping.timestamps is not None:
        stamp = format_timestamp(record.ts, mapping.timestamps)
        values["ts"] = stamp
        values["date"], _, values["time"] = stamp.partition(" ")
    tyre_codes = {tyres: code for code, tyres in reversed(mapping.tyres.items())}
    spacings = [number(a.spacing_m, units.spacing, Quantity.LENGTH, "spacing") for a in record.axles[:-1]]
    axles = {
        "axle_weight": [number(a.load_kg, units.axle_load, Quantity.MASS, "axle_load") for a in record.axles],
        "axle_spacing": spacings,
        "axle_tyres": [tyre_codes.get(a.tyres, absent) if a.tyres else absent for a in record.axles],
    }
    return _Printed(values, axles)


def _slot_value(printed: _Printed, slot: FieldSlot) -> str:
    if slot.equals is not None:
        return slot.equals
    return printed.values.get(slot.name, "")  # ignored `_name` fields print empty


def _axle_values(
    printed: _Printed, layout: DelimitedLayout | FixedLayout
) -> list[tuple[str, str, int | None]]:
    """(field name, printed value, width) for each value of the per-axle block, in printed order."""
    if layout.axles is None:
        return []
    count = len(printed.axles["axle_weight"])
    block = []
    for run, index in layout.axles.slots(count):
        values = printed.axles[run.name]
        # Past the last spacing sits the printed-but-meaningless one of `spacings: n`: zero, as many print.
        value = values[index] if index < len(values) else unscaled(0.0, "m", Quantity.LENGTH, 0)
        block.append((f"{run.name}[{index}]", value, run.width))
    return block


def _delimited_values(printed: _Printed, layout: DelimitedLayout) -> list[str]:
    out: list[str] = []
    for slot in layout.fields:
        if slot.name == AXLES_MARKER:
            out += [value for _, value, _ in _axle_values(printed, layout)]
        else:
            out.append(_slot_value(printed, slot))
    for value in out:
        if layout.separator in value:
            raise UnencodableRecord(
                f"contains the separator {layout.separator!r}", field="record", value=value
            )
    return out


def _fixed_columns(printed: _Printed, layout: FixedLayout) -> list[str]:
    columns: list[tuple[str, str, int | None]] = []
    for slot in layout.fields:
        if slot.name == AXLES_MARKER:
            columns += _axle_values(printed, layout)
        else:
            columns.append((slot.name, _slot_value(printed, slot), slot.width))
    out = []
    for name, value, width in columns:
        size = width or 0
        if len(value) > size:
            raise UnencodableRecord(f"does not fit {size} characters", field=name, value=value)
        out.append(value.rjust(size))
    return out
