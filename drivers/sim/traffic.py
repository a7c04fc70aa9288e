"""Simulated truck traffic at a WIM site: axle configurations of the JBI table, a configurable overload share.

Trucks on Jl. Soekarno-Hatta carry coal, palm oil and containers to Kariangau and Semayang; many run over
their permitted gross weight (JBI). The generator draws an axle configuration, a load (within JBI, or over it
for `overload_share` of trucks), spreads it over the axles as real trucks do (a steering axle carries far
less than a tandem), and lays the axles out with realistic spacings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from drivers.serial_records.records import VehicleRecord
from pantau.contract import Axle, Dimensions, Tyres

#: Axle configuration -> (JBI on an MST 10 t road in kg, share of traffic); JBI as in backend/rules/tables.
JBI_CONFIGURATIONS: Final = {
    "1-1": (12_000, 0.20),
    "1-2": (16_000, 0.30),
    "1-2.2": (22_000, 0.20),
    "1.1-2.2": (30_000, 0.05),
    "1-2-2.2": (34_000, 0.10),
    "1-2.2-2.2": (40_000, 0.10),
    "1-2.2-2.2.2": (43_000, 0.05),
}
_GROUP_GAP_M = (3.0, 5.8)  # between axle groups
_IN_GROUP_M = 1.31  # within a tandem/tridem


@dataclass
class TrafficGenerator:
    """Draws trucks; deterministic for a given seed."""

    overload_share: float = 0.3
    seed: int | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - simulation, not security
        self._count = 0

    def truck(self, ts: datetime, lane: int | None = None) -> VehicleRecord:
        """One truck passing at `ts`."""
        r = self._random
        configs = list(JBI_CONFIGURATIONS)
        config = r.choices(configs, weights=[JBI_CONFIGURATIONS[c][1] for c in configs])[0]
        jbi = JBI_CONFIGURATIONS[config][0]
        overloaded = r.random() < self.overload_share
        gvw = jbi * (r.uniform(1.06, 1.9) if overloaded else r.uniform(0.45, 1.0))
        groups = [group.split(".") for group in config.split("-")]
        tyres = [Tyres.SINGLE if digit == "1" else Tyres.DUAL for group in groups for digit in group]
        loads = _spread(gvw, [len(g) for g in groups], r)
        spacings: list[float | None] = []
        for g, group in enumerate(groups):
            for a in range(len(group)):
                last_in_group = a == len(group) - 1
                if g == len(groups) - 1 and last_in_group:
                    spacings.append(None)
                else:
                    spacings.append(round(r.uniform(*_GROUP_GAP_M), 2) if last_in_group else _IN_GROUP_M)
        axles = [
            Axle(load_kg=round(load, -1), tyres=t, spacing_m=s)
            for load, t, s in zip(loads, tyres, spacings, strict=True)
        ]
        self._count += 1
        length = sum(s for s in spacings if s) + 3.0
        return VehicleRecord(
            ts=ts,
            source="wim",
            record_id=f"{ts:%Y%m%d}-{self._count:06d}",
            lane=lane or r.choice([1, 2]),
            direction=r.choice(["to-port", "to-city"]),
            speed_kmh=round(r.uniform(18, 62), 1),
            gvw_kg=sum(a.load_kg for a in axles),
            axles=axles,
            groups=[len(g) for g in groups],
            vehicle_class=config,
            dimensions=Dimensions(
                length_m=round(length, 2), width_m=2.5, height_m=round(r.uniform(3.2, 4.4), 2)
            ),
        )


def _spread(gvw: float, group_sizes: list[int], r: random.Random) -> list[float]:
    """Axle loads: the steering axle carries ~15-25 %, the rest is shared by the other groups' axles."""
    steering = gvw * r.uniform(0.15, 0.25) if len(group_sizes) > 1 else gvw / 2
    rest_axles = sum(group_sizes[1:]) or 1
    others = [(gvw - steering) / rest_axles * r.uniform(0.95, 1.05) for _ in range(sum(group_sizes) - 1)]
    loads = [steering, *others]
    scale = gvw / sum(loads)
    return [load * scale for load in loads]
