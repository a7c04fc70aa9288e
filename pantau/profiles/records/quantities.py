"""Scaled units (`kg`, `10kg`, `0.1km/h`, `cm`) and plain decimal numbers, as controllers print them.

A unit is an optional step and a base unit: `10kg` means the number counts 10 kg steps. Factors are Decimals
so `1234` in `0.1km/h` becomes exactly 123.4, not 123.40000000000001, before it turns into a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Annotated, Final

from pydantic import AfterValidator


class Quantity(StrEnum):
    MASS = "mass"
    SPEED = "speed"
    LENGTH = "length"


#: Base units per quantity, as factors to kg, km/h and m (the contract's units).
BASE_UNITS: Final[dict[Quantity, dict[str, Decimal]]] = {
    Quantity.MASS: {"kg": Decimal(1), "t": Decimal(1000), "lb": Decimal("0.45359237")},
    Quantity.SPEED: {"km/h": Decimal(1), "m/s": Decimal("3.6"), "mph": Decimal("1.609344")},
    Quantity.LENGTH: {
        "m": Decimal(1),
        "dm": Decimal("0.1"),
        "cm": Decimal("0.01"),
        "mm": Decimal("0.001"),
        "ft": Decimal("0.3048"),
    },
}

_UNIT = re.compile(r"(?P<step>[0-9]+(?:\.[0-9]+)?)?\s*(?P<base>\S+)")
#: What a controller's number looks like: no exponents, NaN, infinity or digit separators.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INTEGER = re.compile(r"[+-]?[0-9]+")


@cache
def unit_factor(text: str, quantity: Quantity) -> Decimal:
    """Factor from `text` (`10kg`) to the contract unit of `quantity`; ValueError naming the choices."""
    match = _UNIT.fullmatch(text.strip())
    bases = BASE_UNITS[quantity]
    if match is None or match["base"] not in bases:
        choices = ", ".join(bases)
        raise ValueError(
            f"{text!r} is not a {quantity} unit: one of {choices}, optionally scaled like '10kg'"
        )
    step = Decimal(match["step"]) if match["step"] else Decimal(1)
    if step == 0:
        raise ValueError(f"{text!r}: a step of 0 would turn every value into 0")
    return step * bases[match["base"]]


def check_unit(quantity: Quantity) -> Callable[[str], str]:
    """A pydantic AfterValidator for unit strings of one quantity."""

    def check(text: str) -> str:
        unit_factor(text, quantity)
        return text

    return check


def parse_decimal(text: str) -> Decimal:
    """A plain decimal number (`-12.5`, `0042`); ValueError for anything else, including `nan` and `1e3`."""
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        raise ValueError("is not a number")
    try:
        return Decimal(stripped)
    except InvalidOperation as exc:  # unreachable after the pattern, kept as a guard
        raise ValueError("is not a number") from exc


def parse_integer(text: str) -> int:
    """A plain integer (`01`, `-3`); ValueError for anything else."""
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        raise ValueError("is not an integer")
    return int(stripped)


def scaled(text: str, unit: str, quantity: Quantity) -> float:
    """`text` in `unit` converted to the contract unit (kg, km/h, m)."""
    return float(parse_decimal(text) * unit_factor(unit, quantity))


def unscaled(value: float, unit: str, quantity: Quantity, decimals: int) -> str:
    """The inverse of `scaled`: `value` in contract units written in `unit` with `decimals` places."""
    number = Decimal(repr(value)) / unit_factor(unit, quantity)
    return f"{number:.{decimals}f}"


MassUnit = Annotated[str, AfterValidator(check_unit(Quantity.MASS))]
SpeedUnit = Annotated[str, AfterValidator(check_unit(Quantity.SPEED))]
LengthUnit = Annotated[str, AfterValidator(check_unit(Quantity.LENGTH))]
