"""A real-looking WIM record set for the fixed-width tests: the common record that interleaves each axle's
weight with the spacing to the next axle (`WWWWSSSS` per axle: 10 kg and cm; the last axle's spacing
blank), behind a record type column `W`. Every record's truth is kept, so a test can compare what a layout
reads with it.

    W 000412 03 0425 031640 03 0612 0345 1286 0131 1266 ____     (spaces added here; `_` is a blank)
    | id     cl spd  gvw    n  axle 1    axle 2    axle 3
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

#: Class code -> (JBI configuration, spacings in m as (low, high) per gap). Class 4 is the twin-steer
#: tronton whose steer axles sit 2.8 m apart: a 2.0 m group threshold splits them into two groups.
CLASSES: Final[dict[str, tuple[str, list[tuple[float, float]]]]] = {
    "02": ("1-2", [(3.2, 4.4)]),
    "03": ("1-2.2", [(4.0, 5.5), (1.3, 1.35)]),
    "04": ("1.1-2.2", [(2.75, 2.85), (4.0, 5.0), (1.3, 1.35)]),
    "05": ("1-2.2-2.2", [(3.4, 3.8), (1.3, 1.35), (5.0, 7.0), (1.3, 1.35)]),
}
#: The test profile's layout, as a `format` section (per-axle order, literal record type).
INTERLEAVED_FORMAT: Final[dict[str, Any]] = {
    "kind": "fixed",
    "fields": [
        {"name": "_record_type", "width": 1, "equals": "W"},
        {"name": "record_id", "width": 6},
        {"name": "vehicle_class", "width": 2},
        {"name": "speed", "width": 4},
        {"name": "gvw", "width": 6},
        {"name": "axle_count", "width": 2},
        {"name": "axles"},
    ],
    "axles": {
        "order": "per_axle",
        "spacings": "n",
        "runs": [{"name": "axle_weight", "width": 4}, {"name": "axle_spacing", "width": 4}],
    },
}
INTERLEAVED_DOC: Final[dict[str, Any]] = {
    "id": "test-interleaved",
    "protocol": "records",
    "manufacturer": "test",
    "model": "fixed columns, axles interleaved",
    "source": "wim",
    "framing": {"kind": "lines"},
    "format": INTERLEAVED_FORMAT,
    "values": {
        "units": {"axle_load": "10kg", "speed": "0.1km/h", "spacing": "cm"},
        "group_spacing_max_m": 2.0,
    },
}


@dataclass(frozen=True, slots=True)
class Truck:
    """What the controller measured; `line` is how it prints it."""

    record_id: str
    vehicle_class: str
    speed_kmh: float
    loads_kg: list[int]
    spacings_m: list[float]
    record_type: str = "W"

    @property
    def gvw_kg(self) -> int:
        return sum(self.loads_kg)

    @property
    def line(self) -> bytes:
        axles = "".join(
            f"{load // 10:04d}" + (f"{round(spacing * 100):04d}" if spacing is not None else "    ")
            for load, spacing in zip(self.loads_kg, [*self.spacings_m, None], strict=True)
        )
        head = f"{self.record_type}{self.record_id}{self.vehicle_class}{round(self.speed_kmh * 10):04d}"
        return f"{head}{self.gvw_kg:06d}{len(self.loads_kg):02d}{axles}\r\n".encode("ascii")


def fleet(count: int, *, seed: int = 21, other_types: int = 0) -> list[Truck]:
    """`count` trucks of the classes above (deterministic), the first `other_types` of every 25 records
    of record type `X` (a status record of the same length, which the controller interleaves)."""
    r = random.Random(seed)  # noqa: S311 - test data, not security
    trucks = []
    for index in range(count):
        code = r.choice(sorted(CLASSES))
        configuration, gaps = CLASSES[code]
        axle_count = len(gaps) + 1
        steering = r.randint(300, 700) * 10
        loads = [steering] + [r.randint(400, 1100) * 10 for _ in range(axle_count - 1)]
        spacings = [round(r.uniform(low, high), 2) for low, high in gaps]
        if configuration.startswith("1.1"):
            loads[1] = r.randint(300, 700) * 10  # the second steering axle
        kind = "X" if index % 25 < other_types else "W"
        trucks.append(Truck(f"{412 + index:06d}", code, round(r.uniform(18, 62), 1), loads, spacings, kind))
    return trucks
