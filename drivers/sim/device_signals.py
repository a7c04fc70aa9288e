"""Fill every channel of a Modbus profile from a river scenario, by what each channel measures.

The profile's `quantity` says what a channel is (water_level, distance, rain_total, ...), so one function
drives any shipped or site-specific profile without per-product code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from drivers.sim.modbus_device import Signal
from drivers.sim.signals import RiverScenario
from pantau.profiles.modbus.profile import ChannelSpec, DataType, ModbusProfile

#: A uint32 micrometre counter wraps after 4294.967296 m of rain: keep simulated totals inside it.
_UINT32_UM_IN_MM = 2**32 / 1000

Quantity = Callable[[RiverScenario, datetime, Mapping[str, float]], float]

QUANTITIES: dict[str, Quantity] = {
    "water_level": lambda s, t, _p: s.level(t),
    "distance": lambda s, t, p: p.get("mounting_height_m", 6.0) - s.level(t),
    "water_column": lambda s, t, p: s.level(t) - p.get("datum_m", 0.0),
    "installation_height": lambda _s, _t, p: p.get("mounting_height_m", 6.0),
    "rain_rate": lambda s, t, _p: s.rain_rate(t),
    "rain_total": lambda s, t, p: (p.get("rain_counter_start_mm", 0.0) + s.rain_total(t)) % _UINT32_UM_IN_MM,
    "rain_since_last_read": lambda s, t, _p: s.rain_total(t) - s.rain_total(t - timedelta(minutes=1)),
    "echo_amplitude": lambda s, t, _p: 62.0 - 4.0 * abs(s.rain_rate(t)) / 60,
    "signal_quality": lambda s, t, _p: 21.0 - 6.0 * abs(s.rain_rate(t)) / 60,
}


def profile_signal(
    profile: ModbusProfile,
    scenario: RiverScenario,
    params: Mapping[str, float] | None = None,
    unit_id: int = 1,
) -> Signal:
    """A Signal giving every channel of `profile` a plausible value from `scenario` at time t."""
    site = dict(params or {})
    static = {spec.id: _static_value(spec, profile, unit_id) for spec in profile.channels}

    def signal(t: datetime) -> dict[str, float | str]:
        values: dict[str, float | str] = dict(static)
        for spec in profile.channels:
            quantity = QUANTITIES.get(spec.quantity or "")
            if quantity is not None:
                values[spec.id] = round(quantity(scenario, t, site), 4)
        return values

    return signal


def _static_value(spec: ChannelSpec, profile: ModbusProfile, unit_id: int) -> float | str:
    if spec.type is DataType.STRING:
        return f"SIM{unit_id:05d}"[: 2 * (spec.length or 1)]
    for other in profile.channels:
        # The unit-code register reports the code that needs no conversion; decimals give 3 places.
        if other.unit_from is not None and other.unit_from.channel == spec.id:
            return next(code for code, factor in other.unit_from.factors.items() if factor == 1.0)
        if other.decimals_from == spec.id:
            return 3
    if spec.enum:
        return 0 if 0 in spec.enum else min(spec.enum)
    if spec.id == "slave_address":
        return unit_id
    return 0
