"""ODOL: each vehicle judged against JBI (by axle configuration and the road's MST), MST per axle and the
road class dimensions; and one alert per (rule, site, device) on how many violations the window holds.

The verdict is stored with the vehicle (`OdolVerdict.fields()`): a violation is an *event* and the vehicle
record is where it lives (Grafana lists them, the API serves them). An alert per vehicle would be a retained
topic and a notification per truck (hundreds a day on Jl. Soekarno-Hatta) and a firing that resolves a
moment later; what the operations center acts on is "violations are happening here now", so the alert's
value is the count of violating vehicles in `alert_window`, through the usual levels (default: one level at 1
violation), and its message names the latest one.

Verdict: `violation` when GVW or an axle is more than `tolerance_pct` over its limit or a dimension is over
the class limit; `unknown` when the GVW cannot be judged (no tyre data, so no axle configuration; a
configuration not in the table; no road class; a record of bad quality) and nothing else was violated;
`tolerated` when over but within the tolerance; else `ok`. Excess figures are signed (negative = headroom).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from backend.rules.alert_lifecycle import AlertSubject, Status
from backend.rules.hysteresis import LevelTracker, TrackedRunner
from backend.rules.inventory import Inventory, RoadClass
from backend.rules.kinds.odol.config import OdolRule
from backend.rules.limits import ClassLimits, JbiTable, RoadClasses, default_jbi, default_road_classes
from backend.rules.road_wear import esal
from backend.rules.runner import VehicleJudge
from pantau.contract import Quality, Vehicle

Verdict = Literal["ok", "tolerated", "violation", "unknown"]


@dataclass(frozen=True, slots=True)
class OdolVerdict:
    verdict: Verdict
    verdict_reason: str | None = None
    axle_configuration: str | None = None
    #: The configuration came from the axle groups with the tyres assumed (`infer_tyres`), not reported.
    configuration_inferred: bool | None = None
    road_class: RoadClass | None = None
    mst_kg: int | None = None
    jbi_kg: float | None = None
    overloaded: bool | None = None
    excess_kg: float | None = None
    excess_pct: float | None = None
    axle_overloaded: bool | None = None
    overloaded_axles: int = 0
    axle_excess_kg: float | None = None
    axle_excess_pct: float | None = None
    over_dimension: bool | None = None
    over_dimension_fields: tuple[str, ...] = ()
    band: str | None = None
    band_severity: int = 0
    esal: float | None = None

    def fields(self) -> dict[str, float | int | str | bool]:
        """Fields to store with the vehicle point; absent figures are left out (never stored as null)."""
        out: dict[str, float | int | str | bool] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if name == "axle_configuration":
                # The reported one is the vehicle point's tag (a same-named field would shadow it);
                # this is the one the JBI was looked up for, reported or inferred.
                name = "jbi_configuration"  # noqa: PLW2901
            if name == "over_dimension_fields":
                value = ",".join(value) or None
            if value is not None:
                out[name] = float(value) if isinstance(value, float) else value
        return out


def judge(
    vehicle: Vehicle, rule: OdolRule, road_class: RoadClass | None, jbi: JbiTable, roads: RoadClasses
) -> OdolVerdict:
    """The ODOL verdict on one vehicle (pure: tables and road class passed in)."""
    limits = roads.classes.get(road_class) if road_class else None
    mst = limits.mst_kg if limits else None
    configuration = vehicle.axle_configuration
    inferred = None
    if configuration is None and rule.infer_tyres and (configuration := assumed_configuration(vehicle)):
        inferred = True
    tolerance = rule.tolerance_pct
    reason = None
    jbi_kg = overloaded = excess_kg = excess_pct = None
    if road_class is None or limits is None:
        reason = "road_class_unknown"
    elif configuration is None:
        reason = "axle_configuration_unknown"
    elif (jbi_kg := jbi.jbi_kg(configuration, limits.mst_kg)) is None:
        reason = "not_in_jbi_table"
    else:
        excess_kg = vehicle.gvw_kg - jbi_kg
        excess_pct = excess_kg / jbi_kg * 100
        overloaded = excess_pct > tolerance
    axle_overloaded = axle_excess_kg = axle_excess_pct = None
    overloaded_axles = 0
    if rule.check_axles and mst is not None and vehicle.axles:
        heaviest = max(axle.load_kg for axle in vehicle.axles)
        axle_excess_kg = heaviest - mst
        axle_excess_pct = axle_excess_kg / mst * 100
        overloaded_axles = sum(1 for a in vehicle.axles if (a.load_kg - mst) / mst * 100 > tolerance)
        axle_overloaded = overloaded_axles > 0
    over_fields = _over_dimension(vehicle, limits, roads.max_height_to_width, rule.dimension_tolerance_pct)
    over_dimension = None if over_fields is None or not rule.check_dimensions else bool(over_fields)
    worst = max(
        (
            p
            for p in (excess_pct if overloaded else None, axle_excess_pct if axle_overloaded else None)
            if p is not None
        ),
        default=None,
    )
    band = next((b for b in reversed(rule.bands) if worst is not None and worst > b.above_pct), None)
    if vehicle.quality is Quality.BAD:
        verdict: Verdict = "unknown"
        reason = "quality_bad"
    elif overloaded or axle_overloaded or over_dimension:
        verdict = "violation"
    elif overloaded is None:
        verdict = "unknown"
    elif (excess_kg or 0) > 0 or (axle_excess_kg or 0) > 0:
        verdict = "tolerated"
    else:
        verdict = "ok"
    return OdolVerdict(
        verdict=verdict,
        verdict_reason=reason,
        axle_configuration=configuration,
        configuration_inferred=inferred,
        road_class=road_class,
        mst_kg=mst,
        jbi_kg=jbi_kg,
        overloaded=overloaded,
        excess_kg=excess_kg,
        excess_pct=None if excess_pct is None else round(excess_pct, 3),
        axle_overloaded=axle_overloaded,
        overloaded_axles=overloaded_axles,
        axle_excess_kg=axle_excess_kg,
        axle_excess_pct=None if axle_excess_pct is None else round(axle_excess_pct, 3),
        over_dimension=over_dimension,
        over_dimension_fields=tuple(over_fields or ()) if rule.check_dimensions else (),
        band=band.name if band else None,
        band_severity=band.severity if band else 0,
        esal=esal(axle.load_kg for axle in vehicle.axles),
    )


def assumed_configuration(vehicle: Vehicle) -> str | None:
    """JBI notation from the axle groups alone: single tyres on the steering group, dual on the others, as
    the table's truck rows are written. Where the truth is single tyres (a light `1-1`), the assumption
    finds the higher JBI: it can miss an overload, never invent one."""
    if not vehicle.groups or sum(vehicle.groups) != len(vehicle.axles):
        return None
    groups = []
    for index, size in enumerate(vehicle.groups):
        tyre = "1" if index == 0 else "2"
        groups.append(".".join([tyre] * size))
    return "-".join(groups)


def _over_dimension(
    vehicle: Vehicle, limits: ClassLimits | None, ratio: float, tolerance_pct: float
) -> list[str] | None:
    """Names of dimensions over the class limits; None when nothing could be checked."""
    dims = vehicle.dimensions
    if limits is None or dims is None:
        return None
    allowed = 1 + tolerance_pct / 100
    checks: list[tuple[str, float | None, float]] = [
        ("length", dims.length_m, limits.length_mm),
        ("width", dims.width_m, limits.width_mm),
        ("height", dims.height_m, limits.height_mm),
    ]
    if dims.width_m is not None:
        checks.append(("height_to_width", dims.height_m, ratio * round(dims.width_m * 1000, 3)))
    measured = [(name, round(v * 1000, 3), limit) for name, v, limit in checks if v is not None]
    if not measured:
        return None
    return [name for name, mm, limit in measured if mm > round(limit * allowed, 3)]


class OdolRunner(TrackedRunner, VehicleJudge[OdolRule, LevelTracker]):
    """`kind: odol`."""

    rule: OdolRule

    def __init__(self, rule: OdolRule, inventory: Inventory) -> None:
        super().__init__(rule, inventory)
        self.jbi = default_jbi().merged(dict(rule.jbi))
        self.roads = default_road_classes().merged(dict(rule.road_classes))
        names = [band.name for band in rule.bands]
        self._min_band = names.index(rule.alert_min_band) if rule.alert_min_band else None
        self.violations: dict[AlertSubject, dict[str, datetime]] = {}

    def verdict_only(self, series: AlertSubject, vehicle: Vehicle) -> OdolVerdict:
        """The vehicle's verdict without counting it in the alert's window (a vehicle whose time is wrong)."""
        road_class = self.rule.road_class or self.inventory.road_class(series.site)
        return judge(vehicle, self.rule, road_class, self.jbi, self.roads)

    def judge(self, series: AlertSubject, vehicle: Vehicle) -> tuple[OdolVerdict, list[Status]]:
        """The vehicle's verdict and the status of the (rule, site, device) alert."""
        road_class = self.rule.road_class or self.inventory.road_class(series.site)
        verdict = judge(vehicle, self.rule, road_class, self.jbi, self.roads)
        window = self.violations.setdefault(series, {})
        if self._counts(verdict):
            window[f"{vehicle.ts.isoformat()}|{vehicle.lane}|{vehicle.record_id}"] = vehicle.ts
            tracker = self.state.setdefault(series, LevelTracker())
            tracker.detail = _describe(vehicle, verdict)
        return verdict, self._feed(series, window, vehicle.ts)

    def _counts(self, verdict: OdolVerdict) -> bool:
        if verdict.verdict != "violation":
            return False
        if self._min_band is None:
            return True
        names = [band.name for band in self.rule.bands]
        return verdict.band is not None and names.index(verdict.band) >= self._min_band

    def _feed(self, series: AlertSubject, window: dict[str, datetime], at: datetime) -> list[Status]:
        start = at - self.rule.alert_window
        for key in [k for k, ts in window.items() if ts <= start]:
            del window[key]
        count = sum(1 for ts in window.values() if ts <= at)
        return self.feed(series, float(count), at, None)

    def tick(self, now: datetime) -> list[Status]:
        out = []
        for series, window in self.violations.items():
            tracker = self.state.get(series)
            if tracker is None or tracker.at is None:
                continue
            at = tracker.clock(now)  # the series' time: a replayed backlog keeps its own
            if at > tracker.at and any(ts <= at - self.rule.alert_window for ts in window.values()):
                out.extend(self._feed(series, window, at))
        return out + super().tick(now)

    def snapshot(self) -> dict[str, Any]:
        windows = {s.key: {k: ts.isoformat() for k, ts in w.items()} for s, w in self.violations.items()}
        return {"trackers": super().snapshot(), "violations": windows}

    def restore(self, data: dict[str, Any]) -> None:
        super().restore(data["trackers"])
        for key, window in data["violations"].items():
            self.violations[AlertSubject.from_key(key)] = {
                k: datetime.fromisoformat(ts) for k, ts in window.items()
            }


def _describe(vehicle: Vehicle, verdict: OdolVerdict) -> str:
    parts = [vehicle.record_id or vehicle.ts.strftime("%H:%M:%S"), verdict.axle_configuration or "?"]
    parts.append(f"{vehicle.gvw_kg:,.0f} kg")
    if verdict.excess_pct is not None:
        parts.append(f"{verdict.excess_pct:+.0f} % JBI")
    if verdict.axle_overloaded:
        parts.append(f"axle {verdict.axle_excess_pct:+.0f} % MST")
    if verdict.over_dimension:
        parts.append("over " + "/".join(verdict.over_dimension_fields))
    if verdict.band:
        parts.append(verdict.band)
    return " ".join(parts)
