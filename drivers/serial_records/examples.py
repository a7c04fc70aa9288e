"""A profile's `examples:` run through its own parser, so a layout is proven against real records.

A fixed-width layout that reads the wrong columns still parses: every column holds digits. Only a record
whose right reading is known tells the two apart. Each example is a frame as the device printed it and
either the fields it must parse to (`expect`) or the field the parser must blame (`reject`). The drivers'
profile loader runs them (`drivers.profiles.load_profile`), so `pantau profile check` and the gateway refuse a
profile whose examples fail, each failure located at its example
(`examples[1]: axles[0].load_kg: parsed 612.0, ...`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

from drivers.serial_records.encoder import frame_payload
from drivers.serial_records.errors import MalformedRecord, UnencodableRecord
from drivers.serial_records.parser import RecordParser
from drivers.serial_records.records import VehicleRecord
from drivers.serial_records.weighbridge import SampleParser
from pantau.config import ConfigError, Marks
from pantau.profiles.records.layouts import WeightStreamLayout
from pantau.profiles.records.profile import RecordExample, RecordProfile

#: Receive time handed to the parser: records of a format without a timestamp carry it.
EXAMPLE_RECEIVED_AT: Final = datetime(2026, 1, 1, tzinfo=UTC)
#: Fields a weight-stream example can expect.
SAMPLE_FIELDS: Final = ("weight_kg", "status")
#: Parsed numbers equal the expected ones to this relative tolerance (unit scaling is decimal-exact).
_RELATIVE: Final = 1e-9


def prove_examples(profile: RecordProfile, source: str, marks: Marks | None = None) -> None:
    """Raise ConfigError with a line per failing example (`source:12:3: examples[1]: ...` with `marks` of
    the profile file)."""
    problems = example_problems(profile)
    if problems:
        raise ConfigError(
            source,
            [f"examples[{index}]: {problem}" for index, problem in problems],
            [marks.at(["examples", index]) if marks else None for index, _ in problems],
        )


def example_problems(profile: RecordProfile) -> list[tuple[int, str]]:
    """(example index, `axles[0].load_kg: parsed 612.0, expected 6120`) for each way an example fails."""
    problems: list[tuple[int, str]] = []
    for index, example in enumerate(profile.examples):
        problems += [(index, problem) for problem in _run(profile, example)]
    return problems


def _run(profile: RecordProfile, example: RecordExample) -> list[str]:
    try:
        frame = example.frame.encode(profile.encoding)
    except UnicodeEncodeError as exc:
        return [f"frame: {exc.object[exc.start : exc.end]!r} cannot be printed in {profile.encoding}"]
    try:
        frame_payload(frame, profile.framing)  # what the framer would cut differently is no single frame
    except UnencodableRecord as exc:
        return [f"frame {exc.args[0].removeprefix('record: ')} (give one record without its framing)"]
    try:
        parsed = _parse(profile, frame)
    except MalformedRecord as exc:
        return _rejected(example, exc)
    if example.reject is not None:
        return [f"parsed as a record, expected a reject naming {example.reject}"]
    expected = example.expect or {}
    known = set(SAMPLE_FIELDS) if isinstance(profile.format, WeightStreamLayout) else set(parsed)
    unknown = sorted(set(expected) - known)
    if unknown:
        return [f"expect: {', '.join(unknown)} not among the parsed fields ({', '.join(sorted(known))})"]
    return _differences(expected, parsed, "")


def _rejected(example: RecordExample, exc: MalformedRecord) -> list[str]:
    if example.reject is None:
        return [f"rejected ({exc.describe()}), expected a record"]
    if _blamed_field(exc.field) != example.reject:
        return [f"rejected for {exc.field or 'the record'} ({exc.describe()}), expected {example.reject}"]
    return []


def _parse(profile: RecordProfile, frame: bytes) -> dict[str, Any]:
    """The frame's parse as plain values: the contract's JSON form of a record, or a weight sample."""
    if isinstance(profile.format, WeightStreamLayout):
        sample = SampleParser(profile).parse(frame)
        return {"weight_kg": sample.weight_kg, "status": str(sample.status)}
    record: VehicleRecord = RecordParser(profile).parse(frame, received_at=EXAMPLE_RECEIVED_AT)
    return record.model_dump(mode="json")


def _blamed_field(field: str | None) -> str:
    """`axle_weight[2]` -> `axle_weight`: an example names the column, not the axle."""
    return (field or "record").split("[", 1)[0]


def _differences(expected: object, parsed: object, path: str) -> list[str]:
    """Where `parsed` differs from `expected`; mappings compare only the keys `expected` lists."""
    if isinstance(expected, dict):
        if not isinstance(parsed, dict):
            return [f"{path}: parsed {parsed!r}, expected {expected!r}"]
        out: list[str] = []
        for key, value in expected.items():
            out += _differences(value, parsed.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(expected, list):
        if not isinstance(parsed, list) or len(parsed) != len(expected):
            count = len(parsed) if isinstance(parsed, list) else parsed
            return [f"{path}: parsed {count!r} items, expected {len(expected)}"]
        out = []
        for index, (want, got) in enumerate(zip(expected, parsed, strict=True)):
            out += _differences(want, got, f"{path}[{index}]")
        return out
    if _same(expected, parsed):
        return []
    return [f"{path}: parsed {parsed!r}, expected {expected!r}"]


def _same(expected: object, parsed: object) -> bool:
    if isinstance(expected, bool) or isinstance(parsed, bool):
        return expected is parsed
    if isinstance(expected, int | float) and isinstance(parsed, int | float):
        return math.isclose(expected, parsed, rel_tol=_RELATIVE, abs_tol=1e-9)
    if isinstance(expected, datetime):  # YAML reads an unquoted time as a datetime
        return expected.tzinfo is not None and _as_time(parsed) == expected
    if isinstance(expected, str) and isinstance(parsed, str) and _as_time(expected) is not None:
        return _as_time(expected) == _as_time(parsed)
    return expected == parsed


def _as_time(text: object) -> datetime | None:
    """An RFC 3339 time with its zone, or None (a naive time would compare as any zone)."""
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
