"""Typed builders for Grafana dashboard JSON (schemaVersion 39: Grafana 10.4 to 12 read it as is).

Plain dataclasses rather than grafana-foundation-sdk: its Python builds are tied to one Grafana release each
and pre-release versioned, while these few shapes (timeseries, stat, table, geomap, state timeline,
histogram, bar chart; InfluxQL targets; custom variables) are stable across Grafana 10-12. `to_json` output
is deterministic: ids and grid positions follow the order panels are added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

SCHEMA_VERSION: Final = 39
GRID_WIDTH: Final = 24

Json = dict[str, Any]
ResultFormat = Literal["time_series", "table"]


@dataclass(frozen=True, slots=True)
class Target:
    """One raw InfluxQL query of a panel."""

    ref_id: str
    query: str
    result_format: ResultFormat = "time_series"
    alias: str | None = None

    def to_json(self, datasource: Json) -> Json:
        out: Json = {
            "datasource": datasource,
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            out["alias"] = self.alias
        return out


@dataclass(frozen=True, slots=True)
class Step:
    """A threshold step: from `value` (None = the base, minus infinity) upwards, `color`."""

    value: float | None
    color: str


def thresholds(steps: Sequence[Step]) -> Json:
    return {"mode": "absolute", "steps": [{"color": s.color, "value": s.value} for s in steps]}


@dataclass
class Panel:
    """A panel; `field_config` is merged over the defaults (unit, thresholds, custom)."""

    title: str
    type: str
    targets: list[Target]
    width: int = 12
    height: int = 8
    description: str = ""
    unit: str | None = None
    steps: Sequence[Step] = ()
    custom: Json = field(default_factory=dict)
    options: Json = field(default_factory=dict)
    overrides: list[Json] = field(default_factory=list)
    mappings: list[Json] = field(default_factory=list)
    transformations: list[Json] = field(default_factory=list)
    interval: str | None = None
    time_from: str | None = None
    links: list[Json] = field(default_factory=list)
    decimals: int | None = None

    def to_json(self, panel_id: int, grid: Json, datasource: Json) -> Json:
        defaults: Json = {"custom": self.custom, "mappings": self.mappings}
        if self.unit is not None:
            defaults["unit"] = self.unit
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        defaults["thresholds"] = thresholds(self.steps or [Step(None, "green")])
        out: Json = {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": datasource,
            "gridPos": grid,
            "targets": [target.to_json(datasource) for target in self.targets],
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self.options,
            "transformations": self.transformations,
        }
        if self.interval is not None:
            out["interval"] = self.interval
        if self.time_from is not None:
            out["timeFrom"] = self.time_from
        if self.links:
            out["links"] = self.links
        return out


@dataclass(frozen=True, slots=True)
class Variable:
    """A custom variable (values from the inventory): no query at load, deterministic options."""

    name: str
    label: str
    values: tuple[str, ...]
    multi: bool = True
    include_all: bool = True
    hide: bool = False

    def to_json(self) -> Json:
        if not self.values:
            raise ValueError(f"variable {self.name!r} has no values")
        selected_all = self.include_all and self.multi
        current_text = "All" if selected_all else self.values[0]
        current_value = (
            ["$__all"] if selected_all else (self.values[0] if not self.multi else [self.values[0]])
        )
        options = [{"selected": False, "text": v, "value": v} for v in self.values]
        if self.include_all:
            options.insert(0, {"selected": selected_all, "text": "All", "value": "$__all"})
        return {
            "type": "custom",
            "name": self.name,
            "label": self.label,
            "query": ",".join(self.values),
            "multi": self.multi,
            "includeAll": self.include_all,
            "current": {"selected": True, "text": current_text, "value": current_value},
            "options": options,
            "hide": 2 if self.hide else 0,
            "skipUrlSync": False,
        }


@dataclass(frozen=True, slots=True)
class Annotation:
    """Annotations from an InfluxQL query (alert transitions)."""

    name: str
    query: str
    text_column: str
    tags_column: str
    color: str = "red"

    def to_json(self, datasource: Json) -> Json:
        return {
            "name": self.name,
            "datasource": datasource,
            "enable": True,
            "hide": False,
            "iconColor": self.color,
            # The shape the InfluxQL annotation editor saves (a target with `query` is not migrated).
            "target": {
                "refId": "Anno",
                "query": self.query,
                "rawQuery": True,
                "textEditor": True,
                "fromAnnotations": True,
                "resultFormat": "table",
                "textColumn": self.text_column,
                "tagsColumn": self.tags_column,
                "titleColumn": "",
                "timeEndColumn": "",
            },
        }


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    timezone: str
    time_from: str = "now-6h"
    refresh: str = "1m"
    panels: list[Panel] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    links: list[Json] = field(default_factory=list)

    def add(self, *panels: Panel) -> None:
        self.panels.extend(panels)

    def to_json(self, datasource: Json) -> Json:
        built = []
        x = y = row_height = 0
        for number, panel in enumerate(self.panels, start=1):
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            grid = {"h": panel.height, "w": panel.width, "x": x, "y": y}
            built.append(panel.to_json(number, grid, datasource))
            x += panel.width
            row_height = max(row_height, panel.height)
        builtin = {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": self.timezone,
            "editable": False,
            "graphTooltip": 1,
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "links": self.links,
            "templating": {"list": [v.to_json() for v in self.variables]},
            "annotations": {"list": [builtin] + [a.to_json(datasource) for a in self.annotations]},
            "panels": built,
        }


def panel_link(title: str, uid: str, query: str = "") -> Json:
    """A panel or data link to another generated dashboard, by uid (stable across Grafana instances);
    `query` carries variables, e.g. `var-site=${__data.fields.site}` in a data link."""
    url = f"/d/{uid}?{query}" if query else f"/d/{uid}"
    return {"title": title, "url": url, "targetBlank": False}


def tagged_dashboards(tag: str) -> Json:
    """A dashboard-level dropdown of every dashboard carrying `tag` (all generated ones carry `pantau`)."""
    return {
        "title": tag,
        "type": "dashboards",
        "tags": [tag],
        "asDropdown": True,
        "includeVars": False,
        "keepTime": True,
        "targetBlank": False,
        "icon": "external link",
        "tooltip": "",
        "url": "",
    }
