"""A day at the two Balikpapan sites of firmware_configs/sites, as their gateways would publish it: a storm on
the Sungai Ampal (rising through every alert level, one spike the QC fails), rain, device and gateway
status, and a truck stream at Km 13 with every ODOL band and a drifting WIM scale.

Times are relative to `now`, so "current" panels (last 30 minutes, today) see them; vehicles fall after
local midnight in Balikpapan (WITA), so the "today" panels do too whatever time the test runs.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pantau.contract import (
    Axle,
    DeviceStatus,
    GatewayStatus,
    Message,
    Reading,
    Readings,
    Tyres,
    Vehicle,
)
from pantau.contract.messages import OutboxStats

RIVER = "ampal-mufakat"
RIVER_GATEWAY = "gw-ampal-mufakat"
ROAD = "soekarno-hatta-km13"
ROAD_GATEWAY = "gw-sh-km13"
MOUNTING_HEIGHT_M = 6.20
STORM_MINUTES = 180
SPIKE_MINUTE = 40
PRESSURE_FAULT_FROM = 150
#: Steering axle of the 3-S2 semi-trailers: 9 % above the rule's 5,400 kg reference, so the scale drifts.
STEER_KG = 5900.0
DRIFT_TRUCKS = 210
_GW = {RIVER: RIVER_GATEWAY, ROAD: ROAD_GATEWAY}


def level_at(minute: int) -> float:
    """1.0 m rising to 3.05 m (past Siaga I at 2.90 m) at 2 h, then falling; +1.5 m spike at SPIKE_MINUTE."""
    level = 1.0 + 2.05 * math.sin(math.pi * min(minute, 120) / 240) ** 2
    if minute > 120:
        level -= 0.01 * (minute - 120)
    return round(level + (1.5 if minute == SPIKE_MINUTE else 0.0), 3)


def river_messages(now: datetime) -> list[Message]:
    start = now - timedelta(minutes=STORM_MINUTES)
    messages: list[Message] = []
    total = 1200.0
    for minute in range(STORM_MINUTES):
        at = start + timedelta(minutes=minute)
        level = level_at(minute)
        messages.append(
            _readings(
                RIVER,
                "wl-radar",
                at,
                {
                    "level": Reading(value=level, unit="m"),
                    "distance": Reading(value=round(MOUNTING_HEIGHT_M - level, 3), unit="m"),
                    "level_from_distance": Reading(value=level, unit="m"),
                },
            )
        )
        # The pressure transmitter fails at the end (reads 35 m, beyond its span) long enough for a QC alert.
        pressure = 35.0 if minute >= PRESSURE_FAULT_FROM else round(level + 0.02, 3)
        messages.append(_readings(RIVER, "wl-pressure", at, {"level": Reading(value=pressure, unit="m")}))
        rain = 0.5 if 30 <= minute < 150 else 0.0
        total += rain
        messages.append(
            _readings(
                RIVER,
                "rain",
                at,
                {
                    "rain": Reading(value=rain, unit="mm"),
                    "rain_total": Reading(value=round(total, 1), unit="mm"),
                },
            )
        )
    messages += _device_status(RIVER, ["wl-radar", "wl-pressure", "rain"], start, now)
    messages += _gateway_status(RIVER, start, now)
    return _numbered(messages, RIVER_GATEWAY)


def truck(
    at: datetime,
    number: int,
    configuration: str,
    axles_kg: list[float],
    device: str = "wim-1",
    *,
    tyres_reported: bool = True,
) -> Vehicle:
    """A WIM record; without `tyres_reported` (as from most WIM controllers) only the axle groups tell the
    configuration, and the backend judges it with the tyres assumed."""
    groups = configuration.split("-")
    tyres: list[Tyres | None] = [
        Tyres.SINGLE if digit == "1" else Tyres.DUAL for group in groups for digit in group.split(".")
    ]
    if not tyres_reported:
        tyres = [None] * len(tyres)
    return Vehicle(
        site=ROAD,
        gateway=ROAD_GATEWAY,
        seq=0,
        ts=at,
        device=device,
        source="wim",
        record_id=f"W{number:06d}",
        lane=1 + number % 2,
        direction="north",
        speed_kmh=52.0 + number % 20,
        gvw_kg=sum(axles_kg),
        axles=[Axle(load_kg=kg, tyres=t) for kg, t in zip(axles_kg, tyres, strict=True)],
        groups=[len(group.split(".")) for group in groups],
    )


#: Road class I (MST 10 t). (configuration, axle loads): JBI 16 t (1-2), 22 t (1-2.2), 40 t (1-2.2-2.2).
_MIX: list[tuple[str, list[float]]] = [
    ("1-2", [5500, 9500]),  # 15.0 t: ok
    ("1-2", [7000, 10000]),  # 17.0 t: +6 %, pelanggaran
    ("1-2.2", [6000, 15000, 15000]),  # 36.0 t: +64 %, sanksi-tol
    ("1-2.2", [7000, 19000, 19000]),  # 45.0 t: +105 %, turun-muatan
]


def road_messages(now: datetime) -> list[Message]:
    midnight = now.astimezone(ZoneInfo("Asia/Makassar")).replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(now - timedelta(hours=2), midnight.astimezone(UTC) + timedelta(seconds=1))
    count = DRIFT_TRUCKS + 4 * len(_MIX)
    step = (now - timedelta(seconds=5) - start) / count
    messages: list[Message] = []
    for number in range(count):
        at = start + step * number
        if number % 6 == 5 and number // 6 < 4 * len(_MIX):
            configuration, loads = _MIX[(number // 6) % len(_MIX)]
        else:
            # 3-S2 semi-trailers around JBI 40 t: some under, some over.
            tandem = 8500.0 + 150 * (number % 9)
            configuration, loads = "1-2.2-2.2", [STEER_KG + (number % 5) * 10, tandem, tandem, tandem, tandem]
        messages.append(truck(at, number, configuration, loads, tyres_reported=number % 4 != 0))
    for number in range(4):
        at = start + step * (number * 40 + 3)
        messages.append(
            Vehicle(
                site=ROAD,
                gateway=ROAD_GATEWAY,
                seq=0,
                ts=at,
                device="weighbridge-1",
                source="weighbridge",
                record_id=f"B{number:04d}",
                gvw_kg=30000.0 + 2500 * number,
            )
        )
    messages += _device_status(ROAD, ["wim-1", "weighbridge-1"], now - timedelta(hours=3), now)
    messages += _gateway_status(ROAD, now - timedelta(hours=3), now)
    return _numbered(messages, ROAD_GATEWAY)


def _readings(site: str, device: str, at: datetime, channels: dict[str, Reading]) -> Readings:
    return Readings(site=site, gateway=_GW[site], seq=0, ts=at, device=device, channels=channels)


def _device_status(site: str, devices: list[str], start: datetime, now: datetime) -> list[Message]:
    """Each device: ok, degraded for a while (errors counted), ok again."""
    out: list[Message] = []
    for index, device in enumerate(devices):
        steps = [("ok", 0, 0), ("degraded", 40, 3), ("ok", 90, 5), ("ok", 170, 5)]
        since = start
        for state, minute, errors in steps:
            at = min(start + timedelta(minutes=minute, seconds=index), now)
            since = at if state != "ok" or minute == 0 else since
            out.append(
                DeviceStatus(
                    site=site,
                    gateway=_GW[site],
                    seq=0,
                    ts=at,
                    device=device,
                    state=state,
                    since=since,
                    last_success=at,
                    consecutive_failures=errors if state == "degraded" else 0,
                    requests_total=100 + minute * 6,
                    errors_total=errors,
                    latency_ms=40.0 + 5 * index + minute / 10,
                    reason="timeout" if state == "degraded" else None,
                    # Record streams count refused frames (a babbling WIM line while degraded).
                    rejected_total=errors * 4 if site == ROAD else None,
                )
            )
    return out


def _gateway_status(site: str, start: datetime, now: datetime) -> list[Message]:
    """Every 10 minutes (and now): online, an outbox that fills during a link outage and drops a little."""
    out: list[Message] = []
    ticks = int((now - start) / timedelta(minutes=10))
    for tick in range(ticks + 1):
        at = min(start + timedelta(minutes=10 * tick), now)
        depth = 40 * tick if 5 <= tick <= 8 else 0
        out.append(
            GatewayStatus(
                site=site,
                gateway=_GW[site],
                seq=0,
                ts=at,
                state="online",
                software_version="0.1.0",
                started_at=start,
                outbox=OutboxStats(
                    depth=depth,
                    oldest_ts=at - timedelta(minutes=2) if depth else None,
                    dropped_total=max(0, tick - 6),
                ),
            )
        )
    out.append(
        GatewayStatus(
            site=site,
            gateway=_GW[site],
            seq=0,
            ts=now,
            state="online",
            software_version="0.1.0",
            started_at=start,
            outbox=OutboxStats(depth=0, dropped_total=max(0, ticks - 6)),
        )
    )
    return out


def _numbered(messages: list[Message], gateway: str) -> list[Message]:
    """In time order, one gateway's increasing sequence numbers."""
    ordered = sorted(messages, key=lambda m: m.ts)
    return [m.model_copy(update={"gateway": gateway, "seq": seq}) for seq, m in enumerate(ordered, start=1)]
