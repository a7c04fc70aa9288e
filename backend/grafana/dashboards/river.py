"""River gauge dashboards, one per gauge site, templated by device.

One dashboard per site rather than a site variable: a gauge's alert levels are its own (the rules file
selects them per site and device), and Grafana draws threshold bands per panel, not per variable value.
A new gauge site in `firmware_configs/sites/` gets its dashboard on the next `pantau grafana build`.
"""

# InfluxQL text is what this module makes; ids and strings go through queries.eq/quote_ident.
# ruff: noqa: S608

from __future__ import annotations

from datetime import timedelta
from typing import Final

from backend.grafana import GrafanaError
from backend.grafana.levels import rule_steps
from backend.grafana.model import Annotation, Dashboard, Panel, Target, Variable, tagged_dashboards
from backend.grafana.queries import eq, matches_var, series_clause, since, where
from backend.grafana.scope import RAIN_INCREMENT, WATER_LEVEL, Scope
from backend.inventory import SiteInfo
from backend.rules.kinds.accumulation.config import AccumulationRule
from backend.rules.kinds.levels.config import LevelsRule
from backend.rules.kinds.rate.config import RateRule
from backend.storage.influx.influxql import duration_literal
from backend.storage.schema import ALERT, READING

UID_PREFIX: Final = "pantau-river-"
_UID_MAX: Final = 40
_BY_SERIES: Final = '"device", "channel"'
_DEFAULT_WINDOWS: Final = (timedelta(hours=1), timedelta(hours=24))
_LINE: Final = {"drawStyle": "line", "lineWidth": 2, "showPoints": "never", "spanNulls": False}


def river_uid(site: str) -> str:
    uid = UID_PREFIX + site
    if len(uid) > _UID_MAX:
        raise GrafanaError(f"site '{site}': dashboard uid {uid!r} is longer than Grafana's {_UID_MAX}")
    return uid


def river_gauges(scope: Scope) -> list[Dashboard]:
    return [_river(scope, site) for site in scope.river_sites()]


def _river(scope: Scope, site: SiteInfo) -> Dashboard:
    level_series = scope.series(site, WATER_LEVEL)
    devices = tuple(sorted({device for device, _ in level_series}))
    board = Dashboard(
        uid=river_uid(site.id),
        title=f"pantau — river gauge — {site.name}",
        description=f"Water level against the alert levels of the rules file, rain and QC at {site.id}",
        tags=("pantau", "river"),
        timezone=scope.settings.timezone,
        links=[tagged_dashboards("pantau")],
        variables=[Variable("device", "Level sensor", devices)] if devices else [],
        annotations=[
            Annotation(
                "Alerts",
                f'SELECT "message", "state", "level" FROM {scope.sources.of(ALERT)} '
                f"WHERE {eq('site', site.id)} AND $timeFilter",
                text_column="message",
                tags_column="state,level",
            )
        ],
    )
    if level_series:
        board.add(*_level_panels(scope, site), *_rate_panels(scope, site), _qc_points(scope, site))
    if scope.series(site, RAIN_INCREMENT):
        board.add(_rain_bars(scope, site), *_accumulations(scope, site))
    board.add(_qc_table(scope, site))
    return board


def _site_devices(site: SiteInfo, series: list[tuple[str, str]]) -> str:
    """This site, the devices picked in `$device`, and these (device, channel) pairs."""
    return where(eq("site", site.id), matches_var("device", "device"), series_clause(series))


def _level_query(scope: Scope, site: SiteInfo, series: list[tuple[str, str]], select: str) -> str:
    return (
        f"SELECT {select} FROM {scope.sources.of(READING)} WHERE {_site_devices(site, series)} "
        f"AND $timeFilter GROUP BY time($__interval), {_BY_SERIES} fill(none)"
    )


def _level_panels(scope: Scope, site: SiteInfo) -> list[Panel]:
    """A panel per levels rule at the site (its bands), or one plain panel when no rule covers it."""
    panels = []
    rules = [rule for rule in scope.rules_of(LevelsRule) if scope.rule_series(rule, site)]
    for rule in rules:
        series = scope.rule_series(rule, site)
        kind = "Water level" if rule.upward else "Freeboard (distance down to the water)"
        levels = ", ".join(f"{level.name} {level.trigger:g}" for level in rule.levels)
        description = f"{rule.description or ''} Bands from rule '{rule.id}': {levels} {rule.unit or ''}."
        panels.append(
            Panel(
                f"{kind} — {rule.id}",
                "timeseries",
                [
                    Target(
                        "A",
                        _level_query(scope, site, series, 'mean("value")'),
                        alias="$tag_device $tag_channel",
                    )
                ],
                width=18,
                height=10,
                description=description.strip(),
                unit=_unit(rule.unit),
                steps=rule_steps(rule),
                custom={**_LINE, "thresholdsStyle": {"mode": "line+area"}},
            )
        )
        panels.append(
            Panel(
                "Now",
                "stat",
                [
                    Target(
                        "A",
                        f'SELECT last("value") FROM {scope.sources.of(READING)} '
                        f"WHERE {_site_devices(site, series)} AND $timeFilter GROUP BY {_BY_SERIES}",
                        alias="$tag_device $tag_channel",
                    )
                ],
                width=6,
                height=10,
                unit=_unit(rule.unit),
                steps=rule_steps(rule),
                decimals=2,
                options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
            )
        )
    if not rules:
        panels.append(
            Panel(
                "Water level",
                "timeseries",
                [
                    Target(
                        "A",
                        _level_query(scope, site, scope.series(site, WATER_LEVEL), 'mean("value")'),
                        alias="$tag_device $tag_channel",
                    )
                ],
                width=24,
                height=10,
                unit="lengthm",
                custom=_LINE,
                description="No levels rule in the rules file selects this gauge: no bands.",
            )
        )
    return panels


def _rate_panels(scope: Scope, site: SiteInfo) -> list[Panel]:
    rules = [rule for rule in scope.rules_of(RateRule) if scope.rule_series(rule, site)]
    chosen: list[tuple[RateRule | None, list[tuple[str, str]]]] = [
        (rule, scope.rule_series(rule, site)) for rule in rules
    ] or [(None, scope.series(site, WATER_LEVEL))]
    panels = []
    for rule, series in chosen:
        panels.append(
            Panel(
                f"Rate of rise — {rule.id}" if rule else "Rate of rise",
                "timeseries",
                [
                    Target(
                        "A",
                        _level_query(scope, site, series, 'derivative(mean("value"), 1h)'),
                        alias="$tag_device $tag_channel",
                    )
                ],
                width=12,
                height=8,
                description="Change per hour between 5-minute means (the engine fits a slope over "
                + (f"{duration_literal(rule.window)})." if rule else "its window)."),
                unit="suffix: m/h",
                steps=rule_steps(rule) if rule else (),
                custom={**_LINE, "thresholdsStyle": {"mode": "dashed" if rule else "off"}},
                interval="5m",
            )
        )
    return panels


def _qc_points(scope: Scope, site: SiteInfo) -> Panel:
    query = (
        f'SELECT "value" FROM {scope.sources.of(READING)} '
        f'WHERE {where(eq("site", site.id), matches_var("device", "device"))} AND "qc" >= 3 '
        f"AND $timeFilter GROUP BY {_BY_SERIES}"
    )
    return Panel(
        "QC-flagged readings (suspect or failed)",
        "timeseries",
        [Target("A", query, alias="$tag_device $tag_channel")],
        width=12,
        height=8,
        description="Readings whose final QARTOD flag (gateway and backend tests) is 3 suspect or 4 fail.",
        custom={"drawStyle": "points", "pointSize": 6, "showPoints": "always"},
    )


def _qc_table(scope: Scope, site: SiteInfo) -> Panel:
    query = (
        f'SELECT "value", "qc", "qc_reason" FROM {scope.sources.of(READING)} '
        f'WHERE {eq("site", site.id)} AND "qc" >= 3 AND $timeFilter '
        f"GROUP BY {_BY_SERIES} ORDER BY time DESC LIMIT 50"
    )
    return Panel(
        "QC flags (latest 50 per channel)",
        "table",
        [Target("A", query, "table")],
        width=24,
        height=8,
        description="QARTOD flags: 3 suspect, 4 fail, 9 missing; the reason names the test.",
    )


def _rain_bars(scope: Scope, site: SiteInfo) -> Panel:
    query = (
        f'SELECT sum("value") FROM {scope.sources.of(READING)} '
        f"WHERE {where(eq('site', site.id), series_clause(scope.series(site, RAIN_INCREMENT)))} "
        f'AND $timeFilter GROUP BY time($__interval), "device" fill(0)'
    )
    return Panel(
        "Rainfall",
        "timeseries",
        [Target("A", query, alias="$tag_device")],
        width=12,
        height=8,
        description="Rain per interval from the gauge's per-poll increments.",
        unit="lengthmm",
        interval="10m",
        custom={"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1, "showPoints": "never"},
    )


def _accumulations(scope: Scope, site: SiteInfo) -> list[Panel]:
    """A stat per accumulation rule at the site (its window and bands), else 1 h and 24 h without bands."""
    rules = [rule for rule in scope.rules_of(AccumulationRule) if scope.rule_series(rule, site)]
    increments = scope.series(site, RAIN_INCREMENT)
    panels = []
    for rule in rules:
        series = scope.rule_series(rule, site)
        if rule.input == "counter":
            # The gauge's running total: sum its steps, skipping resets (a wrap would read as a reset).
            inner = (
                f'SELECT non_negative_difference("value") AS "step" FROM {scope.sources.of(READING)} '
                f"WHERE {where(eq('site', site.id), series_clause(series), since(rule.window))} "
                f"GROUP BY {_BY_SERIES}"
            )
            query = f'SELECT sum("step") FROM ({inner})'
        else:
            query = _sum_since(scope, site, series, rule.window)
        panels.append(_accumulation_stat(f"Rainfall {_hours(rule.window)} — {rule.id}", query, rule))
    if not rules:
        for window in _DEFAULT_WINDOWS:
            query = _sum_since(scope, site, increments, window)
            panels.append(_accumulation_stat(f"Rainfall {_hours(window)}", query, None))
    return panels


def _sum_since(scope: Scope, site: SiteInfo, series: list[tuple[str, str]], window: timedelta) -> str:
    return (
        f'SELECT sum("value") FROM {scope.sources.of(READING)} '
        f"WHERE {where(eq('site', site.id), series_clause(series), since(window))}"
    )


def _accumulation_stat(title: str, query: str, rule: AccumulationRule | None) -> Panel:
    return Panel(
        title,
        "stat",
        [Target("A", query)],
        width=6,
        height=8,
        description="Rolling accumulation up to now, bands from the rules file.",
        unit="lengthmm",
        steps=rule_steps(rule) if rule else (),
        decimals=1,
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    )


def _unit(unit: str | None) -> str | None:
    """Grafana's unit id for the rules file's unit."""
    return {"m": "lengthm", "cm": "lengthcm", "mm": "lengthmm", "%": "percent"}.get(unit or "", unit)


def _hours(window: timedelta) -> str:
    """`24 h`, `1 h`, `90 min`: how rainfall windows are spoken of (BMKG counts in hours)."""
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
