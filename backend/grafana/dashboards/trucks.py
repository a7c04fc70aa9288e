"""Trucks / ODOL, templated by site: traffic, overload share, GVW, violations, worst offenders, road wear,
and the WIM scale's drift. Every verdict is the backend's (the `odol` rule's fields on each vehicle);
Grafana only counts. No personal data is stored, so none is shown: vehicles are records, not plates.
"""

# InfluxQL text is what this module makes; ids and strings go through queries.eq/quote_ident.
# ruff: noqa: S608

from __future__ import annotations

from typing import Final

from backend.grafana.levels import rule_steps, severity_color
from backend.grafana.model import Dashboard, Panel, Target, Variable, tagged_dashboards
from backend.grafana.queries import eq, equals_var, where
from backend.grafana.scope import Scope
from backend.rules.kinds.odol.config import Band, OdolRule
from backend.rules.kinds.wim_drift.config import WimDriftRule
from backend.storage.schema import SCALE_DRIFT, VEHICLE, VEHICLE_VERDICT

UID: Final = "pantau-trucks"
_VIOLATION: Final = "\"verdict\" = 'violation'"
_BARS: Final = {
    "drawStyle": "bars",
    "fillOpacity": 80,
    "lineWidth": 1,
    "showPoints": "never",
    "stacking": {"mode": "normal", "group": "A"},
}


def trucks(scope: Scope) -> list[Dashboard]:
    sites = scope.vehicle_sites()
    if not sites:
        return []
    board = Dashboard(
        uid=UID,
        title="pantau — trucks / ODOL",
        description="Weigh-in-motion and weighbridge sites: traffic, overloads (ODOL), road wear, drift",
        tags=("pantau", "odol"),
        timezone=scope.settings.timezone,
        time_from="now-24h",
        links=[tagged_dashboards("pantau")],
        variables=[Variable("site", "Site", tuple(s.id for s in sites), multi=False, include_all=False)],
    )
    src = scope.sources
    base = f"FROM {src.of(VEHICLE)} WHERE {equals_var('site', 'site')} AND $timeFilter"
    verdicts = f"FROM {src.of(VEHICLE_VERDICT)} WHERE {equals_var('site', 'site')} AND $timeFilter"
    board.add(
        Panel(
            "Vehicles per hour",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT count("gvw_kg") {base} GROUP BY time(1h), "device" fill(0)',
                    alias="$tag_device",
                )
            ],
            width=12,
            custom=_BARS,
        ),
        Panel(
            "Overload share per hour",
            "timeseries",
            [
                Target("A", f'SELECT count("gvw_kg") {base} GROUP BY time(1h) fill(0)', alias="vehicles"),
                Target(
                    "B",
                    f'SELECT count("gvw_kg") {base} AND {_VIOLATION} GROUP BY time(1h) fill(0)',
                    alias="violations",
                ),
            ],
            width=8,
            unit="percentunit",
            description="Violations (over JBI beyond the tolerance, or axles over MST) / vehicles weighed.",
            transformations=[
                {"id": "joinByField", "options": {"byField": "Time", "mode": "outer"}},
                {
                    "id": "calculateField",
                    "options": {
                        "mode": "binary",
                        "alias": "overload share",
                        "binary": {"left": "violations", "operator": "/", "right": "vehicles"},
                        "replaceFields": True,
                    },
                },
            ],
            custom={"drawStyle": "line", "lineWidth": 2, "showPoints": "auto"},
        ),
        Panel(
            "Overloaded",
            "stat",
            [
                Target("A", f'SELECT count("gvw_kg") {base}', alias="vehicles"),
                Target("B", f'SELECT count("gvw_kg") {base} AND {_VIOLATION}', alias="violations"),
            ],
            width=4,
            unit="percentunit",
            transformations=[
                {"id": "joinByField", "options": {"byField": "Time", "mode": "outer"}},
                {
                    "id": "calculateField",
                    "options": {
                        "mode": "binary",
                        "alias": "overload share",
                        "binary": {"left": "violations", "operator": "/", "right": "vehicles"},
                        "replaceFields": True,
                    },
                },
            ],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        ),
        Panel(
            "Gross vehicle weight",
            "histogram",
            [Target("A", f'SELECT "gvw_kg" {base}', alias="GVW")],
            width=12,
            unit="masskg",
            options={"bucketSize": 2000, "combine": False},
        ),
        Panel(
            "Violations by axle configuration",
            "barchart",
            [
                Target(
                    "A", f'SELECT count("gvw_kg") AS "vehicles" {verdicts} GROUP BY "configuration"', "table"
                ),
                Target(
                    "B",
                    f'SELECT count("gvw_kg") AS "violations" {verdicts} AND {_VIOLATION} '
                    'GROUP BY "configuration"',
                    "table",
                ),
            ],
            width=12,
            description=(
                "Judged vehicles and violations per axle configuration, in JBI notation (1-2.2: single "
                "steer, dual tandem) as judged: "
                "reported by the scale, or from its axle groups with the tyres assumed (single steer, "
                "dual otherwise) where it reports none; `unknown` where neither could be told."
            ),
            transformations=[
                {"id": "organize", "options": {"excludeByName": {"Time": True}}},
                {"id": "joinByField", "options": {"byField": "configuration", "mode": "outer"}},
            ],
            options={"xField": "configuration", "orientation": "horizontal", "stacking": "none"},
        ),
        _bands_panel(scope, base),
        Panel(
            "Worst offenders",
            "table",
            [
                Target(
                    "A",
                    f'SELECT top("excess_pct", 20) AS "excess_pct", "gvw_kg", "jbi_kg", "excess_kg", "band", '
                    f'"jbi_configuration" AS "configuration", "device", "record_id" {base} AND {_VIOLATION}',
                    "table",
                )
            ],
            width=16,
            description="The 20 largest overloads in the range as recorded (record id; no plates).",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "^(gvw|jbi|excess)_kg$"},
                    "properties": [{"id": "unit", "value": "masskg"}],
                },
                {
                    "matcher": {"id": "byName", "options": "excess_pct"},
                    "properties": [{"id": "unit", "value": "percent"}],
                },
            ],
        ),
        Panel(
            "Excess tonnage and road wear",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT sum("excess_kg") / 1000 {base} AND "excess_kg" > 0 '
                    "GROUP BY time($__interval) fill(0)",
                    alias="excess (t over JBI)",
                ),
                Target("B", f'SELECT sum("esal") {base} GROUP BY time($__interval) fill(0)', alias="ESAL"),
            ],
            width=12,
            interval="1h",
            description="Tonnes carried over JBI, and equivalent standard axle loads (fourth-power law): "
            "the pavement damage the traffic did.",
            custom=_BARS | {"stacking": {"mode": "none", "group": "A"}},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "ESAL"},
                    "properties": [{"id": "custom.axisPlacement", "value": "right"}],
                }
            ],
        ),
        *_drift_panels(scope),
    )
    return [board]


def _bands(scope: Scope) -> list[Band]:
    """Every band of the odol rules at vehicle sites, in order of severity, each name once."""
    sites = scope.vehicle_sites()
    seen: dict[str, Band] = {}
    for rule in scope.rules_of(OdolRule):
        if any(scope.rule_devices(rule, site) for site in sites):
            for band in rule.bands:
                seen.setdefault(band.name, band)
    return sorted(seen.values(), key=lambda band: (band.above_pct, band.name))


def _bands_panel(scope: Scope, base: str) -> Panel:
    bands = _bands(scope)
    targets = [
        Target(
            chr(ord("A") + i),
            f'SELECT count("gvw_kg") {base} AND {eq("band", band.name)}',
            alias=f"{band.name} (> {band.above_pct:g} %)",
        )
        for i, band in enumerate(bands)
    ]
    return Panel(
        "Violations by severity band",
        "bargauge",
        targets,
        width=8,
        description="Bands from the rules file (odol rules): excess over JBI above each band's percentage.",
        overrides=[
            {
                "matcher": {"id": "byName", "options": f"{band.name} (> {band.above_pct:g} %)"},
                "properties": [
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": severity_color(band.severity)}}
                ],
            }
            for band in bands
        ],
        options={
            "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False},
            "orientation": "horizontal",
        },
    )


def _drift_panels(scope: Scope) -> list[Panel]:
    rules = [
        rule
        for rule in scope.rules_of(WimDriftRule)
        if any(scope.rule_devices(rule, site) for site in scope.vehicle_sites())
    ]
    query = (
        f'SELECT last("drift_pct") FROM {scope.sources.of(SCALE_DRIFT)} '
        f"WHERE {where(equals_var('site', 'site'))} AND $timeFilter "
        f'GROUP BY time($__interval), "device", "rule" fill(none)'
    )
    rule = rules[0] if rules else None
    description = "Rolling median steering-axle weight of the rule's configuration against its reference."
    if rule is not None:
        description += (
            f" Bands from rule '{rule.id}' ({rule.configuration}, reference {rule.reference_kg:g} kg)."
        )
    return [
        Panel(
            "Scale drift",
            "timeseries",
            [Target("A", query, alias="$tag_device ($tag_rule)")],
            width=12,
            unit="percent",
            description=description,
            steps=rule_steps(rule) if rule else (),
            custom={"drawStyle": "line", "lineWidth": 2, "thresholdsStyle": {"mode": "line+area"}},
        )
    ]
