"""The controller's own vehicle classes, mapped to JBI axle configurations (`values.classes` of a profile).

A WIM controller classifies each vehicle (FHWA-style `8`, a vendor's `6B`, ...). Its axle sensors know the
axles but not the tyres, and axle groups derived from spacings depend on one threshold that no fleet fits
everywhere. Where the controller's classes are known, the class says both: `"8": 1-2.2` gives the
groups ([1, 2]) and the tyres (single, then dual, dual), so the ODOL verdict reads a reported configuration
instead of guessing tyres from spacing.

Class codes are compared normalised: surrounding spaces dropped, and a code of digits only by its number,
so `"08"`, `8` (a YAML integer) and `" 8"` are one class. The published `vehicle_class` is normalised the
same way, so one class never splits into two series.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from pantau.contract.messages import MAX_AXLES, Tyres
from pantau.contract.vehicle_class import normalise_class_code
from pantau.profiles.base import ProfileModel

#: JBI notation: axle groups joined by `-`, axles within a group by `.`; `1` single tyres, `2` dual.
_CONFIGURATION: Final = re.compile(r"[12](?:\.[12])*(?:-[12](?:\.[12])*)*")


def _check_configuration(text: str) -> str:
    if not _CONFIGURATION.fullmatch(text):
        raise ValueError(
            f"configuration {text!r} is not JBI notation: axle groups joined by '-', axles in a group "
            "by '.', each axle 1 (single tyres) or 2 (dual), e.g. '1-2.2'"
        )
    if len(text.replace("-", ".").split(".")) > MAX_AXLES:
        raise ValueError(f"configuration {text!r} has more than {MAX_AXLES} axles")
    return text


AxleConfiguration = Annotated[str, AfterValidator(_check_configuration)]


class VehicleClass(ProfileModel):
    """One of the controller's classes: its JBI axle configuration (which gives groups and tyres)."""

    configuration: AxleConfiguration
    description: str | None = Field(default=None, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _bare_configuration(cls, value: object) -> object:
        """`"8": 1-2.2` is short for `"8": {configuration: 1-2.2}`."""
        return {"configuration": value} if isinstance(value, str) else value

    @property
    def groups(self) -> list[int]:
        """Axles per group, front to back: `1-2.2` -> [1, 2]."""
        return [len(group.split(".")) for group in self.configuration.split("-")]

    @property
    def tyres(self) -> list[Tyres]:
        """Tyres per axle, front to back: `1-2.2` -> single, dual, dual."""
        digits = self.configuration.replace("-", ".").split(".")
        return [Tyres.SINGLE if digit == "1" else Tyres.DUAL for digit in digits]


def _normalised_keys(value: object) -> object:
    """Class codes as YAML gives them (`08`, `8`, `"6B"`) -> normalised text; two keys for one class fail."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    printed: dict[str, object] = {}
    for code, spec in value.items():
        key = normalise_class_code(code)
        if key in out:
            raise ValueError(f"class codes {printed[key]!r} and {code!r} are one class ({key!r})")
        out[key], printed[key] = spec, code
    return out


ClassMap = Annotated[dict[str, VehicleClass], BeforeValidator(_normalised_keys)]


@dataclass(frozen=True, slots=True)
class ClassedAxles:
    """What a class adds to a record: axle groups, and tyres for axles the record printed none for."""

    groups: list[int]
    axles: list[dict[str, Any]]


def apply_class(vehicle_class: VehicleClass, axles: list[dict[str, Any]]) -> ClassedAxles | None:
    """Groups and tyres from the class, or None when the record's axle count is not the class's (the class
    or the axle detection is wrong, and the caller flags the record rather than trust either)."""
    tyres = vehicle_class.tyres
    if len(tyres) != len(axles):
        return None
    filled = [{"tyres": tyre} | axle for axle, tyre in zip(axles, tyres, strict=True)]  # printed tyres win
    return ClassedAxles(groups=vehicle_class.groups, axles=filled)
