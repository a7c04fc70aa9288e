"""Printed numbers, scaled units and timestamps, as controllers print them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drivers.serial_records.timestamps import format_timestamp, parse_timestamp, timestamp_resolution
from pantau.profiles.records.profile import EpochTimestamps, TextTimestamps
from pantau.profiles.records.quantities import Quantity, parse_decimal, scaled, unit_factor, unscaled


@pytest.mark.parametrize(
    ("unit", "quantity", "factor"),
    [
        ("kg", Quantity.MASS, "1"),
        ("10kg", Quantity.MASS, "10"),
        ("0.5kg", Quantity.MASS, "0.5"),
        ("t", Quantity.MASS, "1000"),
        ("lb", Quantity.MASS, "0.45359237"),
        ("0.1km/h", Quantity.SPEED, "0.1"),
        ("m/s", Quantity.SPEED, "3.6"),
        ("cm", Quantity.LENGTH, "0.01"),
        ("10 mm", Quantity.LENGTH, "0.010"),
    ],
)
def test_unit_factors(unit: str, quantity: Quantity, factor: str) -> None:
    assert unit_factor(unit, quantity) == Decimal(factor)


@pytest.mark.parametrize(
    ("unit", "quantity"), [("kgs", Quantity.MASS), ("cm", Quantity.MASS), ("0kg", Quantity.MASS)]
)
def test_bad_units(unit: str, quantity: Quantity) -> None:
    with pytest.raises(ValueError, match=repr(unit)):
        unit_factor(unit, quantity)


@pytest.mark.parametrize("text", ["12", "-12.5", "+0042", ".5", "7.", " 3164 "])
def test_plain_numbers_parse(text: str) -> None:
    assert parse_decimal(text) == Decimal(text.strip())


@pytest.mark.parametrize("text", ["", "nan", "inf", "1e3", "1_000", "12,5", "0x10", "--1", "١٢"])
def test_anything_else_is_not_a_number(text: str) -> None:
    with pytest.raises(ValueError, match="is not a number"):
        parse_decimal(text)


def test_scaling_is_exact_in_decimal() -> None:
    assert scaled("1234", "0.1km/h", Quantity.SPEED) == 123.4
    assert scaled("3", "0.1km/h", Quantity.SPEED) == 0.3  # not 0.30000000000000004
    assert unscaled(123.4, "0.1km/h", Quantity.SPEED, 0) == "1234"
    assert unscaled(3.45, "m", Quantity.LENGTH, 2) == "3.45"


WITA = TextTimestamps(kind="text", format="%d/%m/%Y %H:%M:%S.%f", fraction_digits=2, utc_offset="+08:00")


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        (WITA, "28/11/2026 14:04:17.25", datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC)),
        (
            EpochTimestamps(kind="epoch", unit="cs"),
            "179584585725",
            datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC),
        ),
        (EpochTimestamps(kind="epoch", unit="s"), "1795845857", datetime(2026, 11, 28, 6, 4, 17, tzinfo=UTC)),
        (
            EpochTimestamps(kind="epoch", unit="ms"),
            "1795845857250",
            datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC),
        ),
    ],
)
def test_timestamps_read_and_write_back(
    spec: TextTimestamps | EpochTimestamps, text: str, expected: datetime
) -> None:
    assert parse_timestamp(text, spec) == expected
    assert format_timestamp(expected, spec) == text


@pytest.mark.parametrize(
    ("spec", "text", "message"),
    [
        (WITA, "2026-11-28 14:04", "does not match timestamp format"),
        (EpochTimestamps(kind="epoch", unit="s"), "17958x", "is not an integer"),
        (EpochTimestamps(kind="epoch", unit="s"), "9" * 30, "out of range"),
    ],
)
def test_bad_timestamps(spec: TextTimestamps | EpochTimestamps, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_timestamp(text, spec)


def test_timestamp_resolution() -> None:
    assert timestamp_resolution(WITA) == timedelta(milliseconds=10)
    assert timestamp_resolution(EpochTimestamps(kind="epoch", unit="ms")) == timedelta(milliseconds=1)
    assert timestamp_resolution(TextTimestamps(kind="text", format="%Y%m%d%H%M%S")) == timedelta(seconds=1)
