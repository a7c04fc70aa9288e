"""The rules file: one list of rules, the single source of truth for the engine and for Grafana.

Each rule has a slug `id` (the `{rule}` level of `{prefix}/alerts/{site}/{rule}/...`), a `kind`, a `select`
(which series), an optional `severity` and `message` templates in Indonesian and English. Cross-field
problems (levels out of order, a clear threshold on the wrong side...) fail at load with the rule named:
`rules.yaml: rules[1] 'muka-air': levels[2] 'Siaga I': trigger 1.9 must be above 'Siaga II' (2.1)`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.rules.inventory import RoadClass
from backend.rules.limits import AxleConfiguration, ClassLimits, Kg
from backend.rules.select import Selector
from backend.rules.templates import Messages
from pantau.config import ConfigError, Duration, Marks, read_yaml, validate_model
from pantau.contract.fields import Label, Slug, Unit

Severity = Annotated[int, Field(ge=0, le=10)]
Percent = Annotated[float, Field(ge=0, le=1000)]


class RulesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(RulesModel):
    """One alert level: fires beyond `trigger`, clears once back beyond `clear` (default: the trigger)."""

    name: Label
    trigger: float
    clear: float | None = None
    severity: Severity | None = Field(default=None, description="Default: the level's position, 1 = first")

    @property
    def clear_at(self) -> float:
        return self.trigger if self.clear is None else self.clear


class _RuleBase(RulesModel):
    id: Slug
    description: str | None = None
    select: Selector = Selector()
    allow_unmatched: bool = Field(
        default=False,
        description="Start even when `select` matches nothing in the site inventory (a site still being "
        "installed): the problems are logged once instead of stopping the backend",
    )
    severity: Severity = 2

    def message_templates(self) -> Messages:
        message: Messages = self.message  # type: ignore[attr-defined]  # every concrete rule declares it
        return message


class ThresholdRule(_RuleBase):
    """Levels with hysteresis, a pending time before firing and a hold time before clearing."""

    levels: list[Level] = Field(min_length=1)
    pending: Duration = timedelta(0)
    hold: Duration = timedelta(0)
    valid_for: Duration = Field(
        default=timedelta(minutes=5),
        description="How long the last value stands for the signal when timers run on the clock alone",
    )
    normal: Label = Field(default="Normal", description="Name of the state below the first level")

    @property
    def upward(self) -> bool:
        return True

    @model_validator(mode="after")
    def _levels_in_order(self) -> ThresholdRule:
        up = self.upward
        word = "above" if up else "below"
        names = [level.name for level in self.levels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"levels: names must be unique: {', '.join(duplicates)}")
        for i, level in enumerate(self.levels):
            where = f"levels[{i}] '{level.name}'"
            if level.clear is not None and (
                level.clear > level.trigger if up else level.clear < level.trigger
            ):
                side = "at or below" if up else "at or above"
                raise ValueError(
                    f"{where}: clear {level.clear} must be {side} its trigger {level.trigger} (the safe side)"
                )
            if i > 0:
                prev = self.levels[i - 1]
                if not (level.trigger > prev.trigger if up else level.trigger < prev.trigger):
                    raise ValueError(
                        f"{where}: trigger {level.trigger} must be {word} '{prev.name}' ({prev.trigger})"
                    )
                if level.clear_at < prev.clear_at if up else level.clear_at > prev.clear_at:
                    raise ValueError(
                        f"{where}: clear {level.clear_at} must not be {'below' if up else 'above'} "
                        f"the clear of '{prev.name}' ({prev.clear_at})"
                    )
        for name in ("pending", "hold", "valid_for"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name}: must not be negative")
        return self

    def level_severity(self, index: int) -> int:
        level = self.levels[index]
        return index + 1 if level.severity is None else level.severity


_LEVEL_MSG = Messages(
    id="{site}/{device}/{channel}: {level} — {value:.2f} {unit} (batas {threshold:.2f} {unit})",
    en="{site}/{device}/{channel}: {level} — {value:.2f} {unit} (threshold {threshold:.2f} {unit})",
)


class LevelsRule(ThresholdRule):
    """Ordered alert levels on a value; `direction: down` for freeboard (distance to the bank top)."""

    kind: Literal["levels"]
    direction: Literal["up", "down"] = "up"
    unit: Unit | None = None
    message: Messages = _LEVEL_MSG

    @property
    def upward(self) -> bool:
        return self.direction == "up"


class RateRule(ThresholdRule):
    """Rate of rise (or fall) in value units per hour, a robust slope over `window`; levels on its size."""

    kind: Literal["rate"]
    change: Literal["rise", "fall"] = "rise"
    window: Duration = timedelta(minutes=30)
    min_points: int = Field(default=5, ge=3)
    max_points: int = Field(default=60, ge=3, le=500, description="Readings used per slope (evenly picked)")
    message: Messages = Messages(
        id="{site}/{device}/{channel}: {level} — laju {value:.2f} {unit} (batas {threshold:.2f} {unit})",
        en="{site}/{device}/{channel}: {level} — rate {value:.2f} {unit} (threshold {threshold:.2f} {unit})",
    )

    @model_validator(mode="after")
    def _window(self) -> RateRule:
        if self.window <= timedelta(0):
            raise ValueError("window: must be positive")
        if self.max_points < self.min_points:
            raise ValueError(f"max_points {self.max_points} must be at least min_points {self.min_points}")
        return self


class AccumulationRule(ThresholdRule):
    """Rainfall summed over a rolling `window`, from per-poll increments or a cumulative counter."""

    kind: Literal["accumulation"]
    window: Duration = timedelta(hours=1)
    input: Literal["increment", "counter"] = "increment"
    counter_modulus: float | None = Field(default=None, gt=0, description="Where the counter wraps, in mm")
    max_increment: float = Field(default=200.0, gt=0, description="Larger steps between reads are dropped")
    unit: Unit = "mm"
    message: Messages = Messages(
        id="{site}/{device}: {level} — hujan {value:.1f} {unit} (batas {threshold:.1f} {unit})",
        en="{site}/{device}: {level} — rainfall {value:.1f} {unit} (threshold {threshold:.1f} {unit})",
    )

    @model_validator(mode="after")
    def _window(self) -> AccumulationRule:
        if self.window <= timedelta(0):
            raise ValueError("window: must be positive")
        if self.counter_modulus is not None and self.input != "counter":
            raise ValueError("counter_modulus: only for input: counter")
        return self


class StaleRule(_RuleBase):
    """No good reading from a device for `after`; or, `scope: gateway`, the gateway offline or silent."""

    kind: Literal["stale"]
    scope: Literal["device", "gateway"] = "device"
    after: Duration = timedelta(minutes=10)
    pending: Duration = Field(default=timedelta(0), description="Grace after an `offline` gateway status")
    inhibit_when_gateway_offline: bool = True
    message: Messages = Messages(
        id="{site}/{device}: tidak ada data ({detail})",
        en="{site}/{device}: no data ({detail})",
    )

    @model_validator(mode="after")
    def _fields(self) -> StaleRule:
        if self.after <= timedelta(0):
            raise ValueError("after: must be positive")
        if self.scope == "gateway" and (self.select.channel is not None or self.select.quantity is not None):
            raise ValueError("select: a gateway rule selects sites only (no channel or quantity)")
        if self.scope == "gateway" and self.select.device is not None:
            raise ValueError("select.device: a gateway rule selects sites only")
        # Each scope reads only its own setting; the other one, set, would silently do nothing.
        if self.scope == "device" and self.pending != timedelta(0):
            raise ValueError(
                "pending: the grace after an `offline` gateway status applies to scope: gateway only "
                "(a device rule waits `after`)"
            )
        if self.scope == "gateway" and not self.inhibit_when_gateway_offline:
            raise ValueError("inhibit_when_gateway_offline: applies to scope: device only")
        return self


class Range(RulesModel):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class GrossRange(RulesModel):
    """QARTOD gross range: outside `fail` (the sensor's span) fails, outside `suspect` is suspect."""

    fail: Range | None = None
    suspect: Range | None = None

    @model_validator(mode="after")
    def _nested(self) -> GrossRange:
        if self.fail is None and self.suspect is None:
            raise ValueError("give fail and/or suspect")
        if (
            self.fail
            and self.suspect
            and not self.fail.min <= self.suspect.min < self.suspect.max <= self.fail.max
        ):
            raise ValueError("suspect range must lie within the fail range")
        return self


class Spike(RulesModel):
    """A reading this far from the median of the `window` readings before it is a spike."""

    suspect: float = Field(gt=0)
    fail: float | None = Field(default=None, gt=0)
    window: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Spike:
        if self.fail is not None and self.fail <= self.suspect:
            raise ValueError(f"fail {self.fail} must be above suspect {self.suspect}")
        return self


class FlatLine(RulesModel):
    """The same value (within `eps`) `suspect_count` readings in a row is suspect, `fail_count` fails."""

    suspect_count: int = Field(default=4, ge=2)
    fail_count: int = Field(default=6, ge=2)
    eps: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> FlatLine:
        if self.fail_count <= self.suspect_count:
            raise ValueError(f"fail_count {self.fail_count} must be above suspect_count {self.suspect_count}")
        return self


class QcRule(_RuleBase):
    """QARTOD tests on each reading; alerts when readings keep failing for `alert_after`."""

    kind: Literal["qc"]
    gross_range: GrossRange | None = None
    spike: Spike | None = None
    flat_line: FlatLine | None = None
    alert_on: Literal["fail", "suspect"] = "fail"
    alert_after: Duration = timedelta(minutes=10)
    clear_after: Duration = timedelta(minutes=10)
    message: Messages = Messages(
        id="{site}/{device}/{channel}: data meragukan ({detail})",
        en="{site}/{device}/{channel}: data quality failing ({detail})",
    )

    @model_validator(mode="after")
    def _some_test(self) -> QcRule:
        if self.gross_range is None and self.spike is None and self.flat_line is None:
            raise ValueError("give at least one test: gross_range, spike or flat_line")
        if self.alert_after < timedelta(0) or self.clear_after < timedelta(0):
            raise ValueError("alert_after/clear_after: must not be negative")
        return self


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


class _VehicleRule(ThresholdRule):
    @model_validator(mode="after")
    def _vehicle_select(self) -> _VehicleRule:
        if self.select.channel is not None or self.select.quantity is not None:
            raise ValueError("select: vehicle rules select sites and devices only (no channel or quantity)")
        return self


class OdolRule(_VehicleRule):
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
    jbi: dict[AxleConfiguration, dict[int, Kg]] = {}
    road_classes: dict[RoadClass, ClassLimits] = {}
    alert_window: Duration = timedelta(hours=1)
    alert_min_band: Slug | None = Field(
        default=None, description="Count only violations in this band or worse"
    )
    levels: list[Level] = [Level(name="ODOL", trigger=1, severity=3)]
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


class WimDriftRule(_VehicleRule):
    """Rolling median steering-axle load of one axle configuration against a reference (scale drift)."""

    kind: Literal["wim_drift"]
    configuration: AxleConfiguration = "1-2.2-2.2"
    match_groups: bool = Field(default=True, description="Match by axle groups when tyres are not reported")
    reference_kg: Kg
    window: Duration = timedelta(days=7)
    min_samples: int = Field(default=50, ge=3)
    levels: list[Level] = [Level(name="drift", trigger=5.0, clear=3.0, severity=2)]
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


Rule = Annotated[
    LevelsRule | RateRule | AccumulationRule | StaleRule | QcRule | OdolRule | WimDriftRule,
    Field(discriminator="kind"),
]
RULE_KINDS = ("levels", "rate", "stale", "qc", "accumulation", "odol", "wim_drift")


class RulesFile(RulesModel):
    """The whole rules file."""

    language: Literal["id", "en"] = Field(default="id", description="Language of alert messages on MQTT")
    rules: list[Rule] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> RulesFile:
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        return self


def load_rules(path: Path) -> RulesFile:
    """Read and validate a rules file; ConfigError naming the file, the line, the rule and the field."""
    return read_rules(path)[0]


def read_rules(path: Path) -> tuple[RulesFile, Marks]:
    """`load_rules` with where each entry was written, for checks after loading (against the inventory)."""
    document = read_yaml(path)
    if not isinstance(document.data.get("rules", []), list):
        raise ConfigError(str(path), ["rules: must be a list of rules"], [document.marks.at(["rules"])])
    return validate_rules(document.data, source=str(path), marks=document.marks), document.marks


def validate_rules(document: dict[str, Any], *, source: str, marks: Marks | None = None) -> RulesFile:
    """Validate a parsed rules document; problems read `source:12:5: rules[2] 'rain-1h': window: ...`."""
    return validate_model(document, RulesFile, source=source, marks=marks, entries="rules")
