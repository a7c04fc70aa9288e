"""The `accumulation` rule: rainfall summed over a rolling window, levels on the sum."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from backend.rules.rule import ThresholdRule
from backend.rules.templates import Messages
from pantau.config import Duration
from pantau.contract.fields import Unit


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

    def checked_unit(self) -> str | None:
        # Its default (mm) is printed by its messages: checked even when not written.
        return self.unit

    @model_validator(mode="after")
    def _window(self) -> AccumulationRule:
        if self.window <= timedelta(0):
            raise ValueError("window: must be positive")
        if self.counter_modulus is not None and self.input != "counter":
            raise ValueError("counter_modulus: only for input: counter")
        return self
