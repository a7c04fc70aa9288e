"""Road wear by the fourth-power law: ESAL, the sum over axles of (load / 8,160 kg)^4.

One formula for the two places that need it: the ODOL verdict stores `esal` with each judged vehicle, and
the API computes it for vehicles stored without one (from their `axles` field).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: The standard axle of the fourth-power law (AASHTO 18 kip single axle).
STANDARD_AXLE_KG: Final = 8160.0


def esal(axle_loads_kg: Iterable[float]) -> float | None:
    """Equivalent standard axle loads of one vehicle; None when no axle load is known."""
    loads = list(axle_loads_kg)
    if not loads:
        return None
    return sum((load / STANDARD_AXLE_KG) ** 4 for load in loads)
