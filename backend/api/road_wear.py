"""Road wear of a stored vehicle: the rules engine stores `esal` with its verdict; records stored without one
get it computed here from their `axles` JSON field, by the one formula (`backend.rules.road_wear.esal`).
"""

from __future__ import annotations

import json
from typing import Any

from backend.rules.road_wear import esal
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


def esal_of(stored: FieldValue | None, axles: FieldValue | None) -> float | None:
    """The stored `esal`, else computed from the stored `axles`; None without either."""
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        return float(stored)
    return esal(float(axle["load_kg"]) for axle in axle_loads(axles))
