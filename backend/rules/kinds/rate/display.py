"""How a `rate` rule is drawn on Grafana's panels: the panel shows the signed rate, so a fall is negative
and its levels are mirrored below zero."""

from __future__ import annotations

from backend.rules.kinds.kind import ValueBand, mirrored_bands, upward_bands
from backend.rules.kinds.rate.config import RateRule


def value_bands(rule: RateRule) -> list[ValueBand]:
    return mirrored_bands(rule, -1.0) if rule.change == "fall" else upward_bands(rule)
