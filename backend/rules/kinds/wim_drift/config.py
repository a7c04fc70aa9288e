"""The `wim_drift` rule: a WIM scale drifting, seen in the steering-axle loads of one truck type."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from backend.rules.limits import AxleConfiguration, Kg
from backend.rules.rule import Level, VehicleRule
from backend.rules.templates import Messages
from pantau.config import Duration
from pantau.contract.fields import Unit


class WimDriftRule(VehicleRule):
    """Rolling median steering-axle load of one axle configuration against a reference (scale drift)."""

    kind: Literal["wim_drift"]
    configuration: AxleConfiguration = "1-2.2-2.2"
    match_groups: bool = Field(default=True, description="Match by axle groups when tyres are not reported")
    reference_kg: Kg
    window: Duration = timedelta(days=7)
    min_samples: int = Field(default=50, ge=3)
    levels: list[Level] = Field(
        default_factory=lambda: [Level(name="drift", trigger=5.0, clear=3.0, severity=2)]
    )
    unit: Unit = "%"
    message: Messages = Messages(
        id="{site}/{device}: timbangan WIM bergeser {value:.1f} % (median sumbu depan {detail})",
        en="{site}/{device}: WIM scale drift {value:.1f} % (steering-axle median {detail})",
    )

    @model_validator(mode="after")
    def _window(self) -> WimDriftRule:
        if self.window < timedelta(days=7):
            raise ValueError("window: at least 7d (a shorter median follows the fleet mix, not the scale)")
        return self
