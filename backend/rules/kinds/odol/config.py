"""The `odol` rule: overload and over-dimension per vehicle, alerts on violations per window."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from backend.rules.inventory import RoadClass
from backend.rules.limits import AxleConfiguration, ClassLimits, Kg
from backend.rules.rule import Level, Percent, RulesModel, Severity, VehicleRule
from backend.rules.templates import Messages
from pantau.config import Duration
from pantau.contract.fields import Slug


class Band(RulesModel):
    """A severity band of overload: excess over JBI (or MST) above `above_pct` percent."""

    name: Slug
    above_pct: Percent
    severity: Severity = 3


_DEFAULT_BANDS = [
    Band(name="pelanggaran", above_pct=5, severity=3),
    Band(name="sanksi-tol", above_pct=50, severity=5),
    Band(name="turun-muatan", above_pct=100, severity=7),
]


class OdolRule(VehicleRule):
    """Overload (GVW vs JBI, axles vs MST) and over-dimension per vehicle; alerts on violations per window."""

    kind: Literal["odol"]
    road_class: RoadClass | None = Field(default=None, description="Default: the site's, from the inventory")
    tolerance_pct: Percent = 5.0
    bands: list[Band] = _DEFAULT_BANDS
    check_axles: bool = True
    check_dimensions: bool = True
    infer_tyres: bool = Field(
        default=True,
        description="A record with axle groups but no tyres (most WIM): steering group single, the rest dual",
    )
    dimension_tolerance_pct: Percent = 0.0
    jbi: dict[AxleConfiguration, dict[int, Kg]] = Field(default_factory=dict)
    road_classes: dict[RoadClass, ClassLimits] = Field(default_factory=dict)
    alert_window: Duration = timedelta(hours=1)
    alert_min_band: Slug | None = Field(
        default=None, description="Count only violations in this band or worse"
    )
    levels: list[Level] = Field(default_factory=lambda: [Level(name="ODOL", trigger=1, severity=3)])
    message: Messages = Messages(
        id="{site}/{device}: {value:.0f} kendaraan melanggar ODOL dalam jendela ({level}); terakhir {detail}",
        en="{site}/{device}: {value:.0f} ODOL violations in the window ({level}); last {detail}",
    )

    @model_validator(mode="after")
    def _bands(self) -> OdolRule:
        for i, band in enumerate(self.bands):
            if i == 0 and band.above_pct < self.tolerance_pct:
                raise ValueError(
                    f"bands[0] '{band.name}': above_pct {band.above_pct} is below tolerance_pct "
                    f"{self.tolerance_pct}: a tolerated vehicle cannot be in a band"
                )
            if i > 0 and band.above_pct <= self.bands[i - 1].above_pct:
                raise ValueError(
                    f"bands[{i}] '{band.name}': above_pct {band.above_pct} must be above "
                    f"'{self.bands[i - 1].name}' ({self.bands[i - 1].above_pct})"
                )
        if self.alert_min_band is not None and self.alert_min_band not in {b.name for b in self.bands}:
            raise ValueError(f"alert_min_band: {self.alert_min_band!r} is not one of the bands")
        if self.alert_window <= timedelta(0):
            raise ValueError("alert_window: must be positive")
        if not self.check_dimensions and self.dimension_tolerance_pct != 0:
            raise ValueError("dimension_tolerance_pct: dimensions are not checked (check_dimensions: false)")
        return self
