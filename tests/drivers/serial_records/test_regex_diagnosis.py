"""Where a record stops matching a regex layout: the field and the character position, for a technician."""

from __future__ import annotations

import pytest

from drivers.serial_records.regex_diagnosis import diagnose

PATTERN = r"(?P<record_id>\d+);(?P<ts>\d{8} \d{6});L(?P<lane>[1-4])(?:;E(?P<error_code>\d))?"


@pytest.mark.parametrize(
    ("text", "field", "position", "found"),
    [
        ("x;20261128 060000;L1", "record_id", 0, "x;20261128 060000;L1"),  # the field itself is wrong
        ("412,20261128 060000;L1", "ts", 3, ",20261128 060000;L1"),  # the separator before a field
        ("412;2026-11-28 06:00;L1", "ts", 4, "2026-11-28 06:00;L1"),
        ("412;20261128 060000;L7", "lane", 21, "7"),
        ("412;20261128 060000;L1;X", "record", 22, ";X"),  # the tail after the last named field
    ],
)
def test_names_the_field_and_position_where_matching_stops(
    text: str, field: str, position: int, found: str
) -> None:
    mismatch = diagnose(PATTERN, text)
    assert mismatch is not None
    assert (mismatch.field, mismatch.position, mismatch.found) == (field, position, found)
    assert f"at character {position}" in mismatch.problem


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?P<a>\d+)|(?P<b>[a-z]+)",  # top-level alternation: no single order of fields
        r"\d+;[a-z]+",  # no named group to blame
    ],
)
def test_gives_up_rather_than_guess(pattern: str) -> None:
    assert diagnose(pattern, "nothing like it") is None


def test_escapes_classes_and_nesting_are_not_taken_for_groups() -> None:
    # `\(`, `[(|)]` and the `]` first in a class must not open, close or alternate anything.
    pattern = r"\((?P<a>[]|(x]+)\)(?:-(?P<inner>\d))?;(?P<b>\d+)"
    mismatch = diagnose(pattern, "(x|)-1;z")
    assert mismatch is not None
    assert (mismatch.field, mismatch.position) == ("b", 7)
    assert "inner" not in mismatch.problem  # nested named groups are not top-level fields


def test_long_records_are_quoted_in_a_bounded_excerpt() -> None:
    mismatch = diagnose(r"(?P<a>\d+)", "x" * 500)
    assert mismatch is not None
    assert mismatch.found == "x" * 24
