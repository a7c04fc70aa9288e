"""The `levels` rule: ordered alert levels on the reading values themselves."""

from __future__ import annotations

from typing import Literal

from backend.rules.rule import ThresholdRule
from backend.rules.templates import Messages
from pantau.contract.fields import Unit

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

    def checked_unit(self) -> str | None:
        return self.unit
