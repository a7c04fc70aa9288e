"""The `battery` rule: a field box's supply voltage falling through levels (solar boxes in the rains)."""

from __future__ import annotations

from typing import Literal

from backend.rules.rule import ThresholdRule
from backend.rules.templates import Messages


class BatteryRule(ThresholdRule):
    """Levels counting downward on a supply-voltage channel: lower is worse."""

    kind: Literal["battery"]
    message: Messages = Messages(
        id="{site}/{device}: baterai {level} — {value:.1f} V (batas {threshold:.1f} V)",
        en="{site}/{device}: battery {level} — {value:.1f} V (threshold {threshold:.1f} V)",
    )

    @property
    def upward(self) -> bool:
        return False
