"""How a `wim_drift` rule is drawn on Grafana's panels: the engine judges |drift|, a scale reading light
is as wrong as one reading heavy, so the levels stand on both sides of zero."""

from __future__ import annotations

from backend.rules.kinds.kind import ValueBand, mirrored_bands, upward_bands
from backend.rules.kinds.wim_drift.config import WimDriftRule


def value_bands(rule: WimDriftRule) -> list[ValueBand]:
    return [*mirrored_bands(rule, -1.0), *upward_bands(rule)[1:]]
