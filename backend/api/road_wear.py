"""Road wear of a stored vehicle: ESAL by the fourth-power law, sum over axles of (load / 8,160 kg)^4.

The rules engine stores `esal` with its verdict; records stored without one get it computed here from the
`axles` JSON field, with the same standard axle (`backend.rules.odol.STANDARD_AXLE_KG`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.rules.odol import STANDARD_AXLE_KG
from backend.storage.model import FieldValue


def axle_loads(axles: FieldValue | None) -> list[dict[str, Any]]:
    """The `axles` field as a list of axle dicts (load_kg, tyres, spacing_m); [] when absent or unreadable."""
    if not isinstance(axles, str):
        return []
    try:
        parsed = json.loads(axles)
    except ValueError:
        return []
    if not isinstance(parsed, list):
        return []
    return [
        item for item in parsed if isinstance(item, dict) and isinstance(item.get("load_kg"), int | float)
    ]


def esal_of(values: Mapping[str, FieldValue | None]) -> float | None:
    """The stored `esal`, else computed from the axle loads; None without either."""
    stored = values.get("esal")
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        return float(stored)
    loads = [float(axle["load_kg"]) for axle in axle_loads(values.get("axles"))]
    if not loads:
        return None
    return sum((load / STANDARD_AXLE_KG) ** 4 for load in loads)
