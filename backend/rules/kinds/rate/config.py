"""The `rate` rule: rate of rise (or fall) of a channel, levels on its size."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from backend.rules.rule import ThresholdRule
from backend.rules.templates import Messages
from pantau.config import Duration


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
