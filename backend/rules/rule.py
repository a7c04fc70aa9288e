"""What rules of every kind share: the base model, levels with hysteresis thresholds, vehicle rules.

A kind's own model (in `backend/rules/kinds/<kind>/config.py`) subclasses `RuleBase`, or `ThresholdRule`
when its value goes through the levels machine (`backend/rules/hysteresis.py`), or `VehicleRule` when it
judges vehicle records.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.rules.select import Selector
from backend.rules.templates import Messages
from pantau.config import Duration
from pantau.contract.fields import Label, Slug

#: What one alert of a rule is about (the coverage check narrows the inventory down to it).
Watched = Literal["site", "device", "channel"]

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


class RuleBase(RulesModel):
    """What every rule has, whatever its kind: an id, which series it selects, how severe it is."""

    if TYPE_CHECKING:
        # Each kind's model declares its own literal (the union's tag); not a field of the base.
        kind: str

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

    def watches(self) -> Watched:
        """What one alert of the rule is about: a channel (the default), a device, or a whole site."""
        return "channel"

    def checked_unit(self) -> str | None:
        """The unit the rule's thresholds and messages are in, which the selected channels must share
        (checked against the site inventory); None where the rule has none of its own."""
        return None


class ThresholdRule(RuleBase):
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


class VehicleRule(ThresholdRule):
    """A rule on the vehicle records of WIM scales and weighbridges: one alert per (site, device)."""

    @model_validator(mode="after")
    def _vehicle_select(self) -> VehicleRule:
        if self.select.channel is not None or self.select.quantity is not None:
            raise ValueError("select: vehicle rules select sites and devices only (no channel or quantity)")
        return self

    def watches(self) -> Watched:
        return "device"
