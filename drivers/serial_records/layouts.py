"""Cutting a record's text into printed field values, per layout (delimited, fixed, regex).

The result is still text (`PrintedFields`); parser.py gives it meaning (units, timestamps, codes). Every
failure is a MalformedRecord naming the field, or the record's shape when no single field is to blame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.serial_records.errors import MalformedRecord
from drivers.serial_records.regex_diagnosis import diagnose
from pantau.contract.messages import MAX_AXLES
from pantau.profiles.records.layouts import (
    AXLES_MARKER,
    AxleBlock,
    DelimitedLayout,
    FieldSlot,
    FixedLayout,
    RegexLayout,
    is_ignored,
)
from pantau.profiles.records.quantities import parse_integer


@dataclass(frozen=True, slots=True)
class PrintedFields:
    """A record cut into stripped field texts: `values` per field, `axles` per axle field (one per axle;
    spacings one per gap between axles)."""

    values: dict[str, str] = field(default_factory=dict)
    axles: dict[str, list[str]] = field(default_factory=dict)

    @property
    def axle_count(self) -> int:
        """Number of axles read (the weights run has one value per axle)."""
        return len(self.axles.get("axle_weight", []))


def cut_record(text: str, layout: DelimitedLayout | FixedLayout | RegexLayout) -> PrintedFields:
    """The printed field values of one record's text."""
    if isinstance(layout, DelimitedLayout):
        return _cut_delimited(text, layout)
    if isinstance(layout, FixedLayout):
        return _cut_fixed(text, layout)
    return _cut_regex(text, layout)


def _named(slots: list[FieldSlot], texts: list[str]) -> dict[str, str]:
    for slot, text in zip(slots, texts, strict=True):
        _check_literal(slot, text)
    return {slot.name: text for slot, text in zip(slots, texts, strict=True) if not is_ignored(slot.name)}


def _check_literal(slot: FieldSlot, text: str) -> None:
    """A field with `equals` (a record type, say) rejects a record that prints anything else there."""
    if slot.equals is not None and text != slot.equals:
        raise MalformedRecord(f"must be {slot.equals!r}", field=slot.name, value=text)


def _checked_axle_count(text: str) -> int:
    try:
        count = parse_integer(text)
    except ValueError as exc:
        raise MalformedRecord(str(exc), field="axle_count", value=text) from exc
    if not 0 <= count <= MAX_AXLES:
        raise MalformedRecord(f"is outside 0..{MAX_AXLES}", field="axle_count", value=text)
    return count


def _inferred_axle_count(block: AxleBlock, per_axle: list[int], available: int, unit: str) -> int:
    """Without an axle_count field, N is what makes the runs fill the space between the fixed fields."""
    for count in range(MAX_AXLES + 1):
        needed = sum(
            size * block.values_in_run(run, count) for run, size in zip(block.runs, per_axle, strict=True)
        )
        if needed == available:
            return count
        if needed > available:
            break
    raise MalformedRecord(f"the axle block's {available} {unit} fit no whole number of axles", field="axles")


def _split_runs(block: AxleBlock, values: list[str], count: int) -> dict[str, list[str]]:
    """The block's values (in printed order, runs or per axle) regrouped per axle field."""
    axles: dict[str, list[str]] = {run.name: [] for run in block.runs}
    for (run, _), value in zip(block.slots(count), values, strict=True):
        axles[run.name].append(value)
    if block.spacings == "n" and "axle_spacing" in axles:
        axles["axle_spacing"] = axles["axle_spacing"][:-1]  # the last axle's printed spacing means nothing
    return axles


def _cut_delimited(text: str, layout: DelimitedLayout) -> PrintedFields:
    parts = [part.strip() for part in text.split(layout.separator)]
    before, after = layout.split_at_axles()
    for slot, part in zip(before, parts, strict=False):  # a record of another type, named before its shape
        _check_literal(slot, part)
    if layout.axles is None:
        if len(parts) != len(before):
            raise MalformedRecord(f"has {len(parts)} fields, the format has {len(before)}", field="record")
        return PrintedFields(values=_named(before, parts))
    names = [slot.name for slot in before]
    if "axle_count" in names:
        at = names.index("axle_count")
        if len(parts) <= at:
            raise MalformedRecord(f"has {len(parts)} fields and ends before axle_count", field="record")
        count = _checked_axle_count(parts[at])
    else:
        available = len(parts) - len(before) - len(after)
        count = _inferred_axle_count(layout.axles, [1] * len(layout.axles.runs), available, "fields")
    per_axle = sum(layout.axles.values_in_run(run, count) for run in layout.axles.runs)
    expected = len(before) + per_axle + len(after)
    if len(parts) != expected:
        raise MalformedRecord(
            f"has {len(parts)} fields, the format has {expected} for {count} axles", field="record"
        )
    block = parts[len(before) : len(before) + per_axle]
    return PrintedFields(
        values=_named(before, parts[: len(before)]) | _named(after, parts[len(before) + per_axle :]),
        axles=_split_runs(layout.axles, block, count),
    )


class _Columns:
    """Reads consecutive fixed-width columns, naming the field when the record ends too early."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def take(self, width: int, name: str) -> str:
        end = self.position + width
        if end > len(self.text):
            raise MalformedRecord(
                f"record is {len(self.text)} characters and ends inside this field "
                f"(characters {self.position}..{end - 1})",
                field=name,
            )
        value = self.text[self.position : end].strip()
        self.position = end
        return value

    def take_slot(self, slot: FieldSlot) -> str:
        """The next field's value; a literal field is checked at once, so a record of another type is
        named as such rather than by whichever later column its different shape breaks."""
        value = self.take(_width(slot), slot.name)
        _check_literal(slot, value)
        return value


def _width(slot: FieldSlot) -> int:
    if slot.width is None:  # FixedLayout's validator rules this out
        raise MalformedRecord("has no width in the fixed layout", field=slot.name)
    return slot.width


def _cut_fixed(text: str, layout: FixedLayout) -> PrintedFields:
    before, after = layout.split_at_axles()
    columns = _Columns(text)
    values = {slot.name: columns.take_slot(slot) for slot in before}
    axles: dict[str, list[str]] = {}
    if layout.axles is not None:
        widths = [run.width or 0 for run in layout.axles.runs]
        if "axle_count" in values:
            count = _checked_axle_count(values["axle_count"])
        else:
            available = len(text) - columns.position - sum(_width(slot) for slot in after)
            count = _inferred_axle_count(layout.axles, widths, available, "characters")
        block = [
            columns.take(run.width or 0, f"{run.name}[{index}]") for run, index in layout.axles.slots(count)
        ]
        axles = _split_runs(layout.axles, block, count)
    values |= {slot.name: columns.take_slot(slot) for slot in after}
    if columns.position != len(text):
        raise MalformedRecord(f"is {len(text)} characters, the format has {columns.position}", field="record")
    return PrintedFields(values={k: v for k, v in values.items() if not is_ignored(k)}, axles=axles)


def _cut_regex(text: str, layout: RegexLayout) -> PrintedFields:
    match = layout.compiled.fullmatch(text)
    if match is None:
        mismatch = diagnose(layout.pattern, text)
        if mismatch is None:
            raise MalformedRecord("does not match the format's pattern", field="record")
        raise MalformedRecord(mismatch.problem, field=mismatch.field, value=mismatch.found)
    values = {
        name: (value or "").strip()
        for name, value in match.groupdict().items()
        if not is_ignored(name) and name != AXLES_MARKER
    }
    axle_pattern = layout.compiled_axle
    if axle_pattern is None:
        return PrintedFields(values=values)
    block = match[AXLES_MARKER] or ""
    per_axle: list[dict[str, str | None]] = []
    position = 0
    while position < len(block):
        axle = axle_pattern.match(block, position)
        if axle is None or axle.end() == position:
            raise MalformedRecord(
                f"axle {len(per_axle)} does not match axle_pattern", field="axles", value=block[position:]
            )
        if len(per_axle) == MAX_AXLES:
            raise MalformedRecord(f"more than {MAX_AXLES} axles", field="axles")
        per_axle.append(axle.groupdict())
        position = axle.end()
    names = set(axle_pattern.groupindex)
    axles = {name: [(groups[name] or "").strip() for groups in per_axle] for name in names}
    if "axle_spacing" in axles:
        axles["axle_spacing"] = axles["axle_spacing"][:-1]  # spacing is to the next axle: none after the last
    return PrintedFields(values=values, axles=axles)
