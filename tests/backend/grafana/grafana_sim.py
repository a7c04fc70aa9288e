"""What Grafana does to a panel's InfluxQL before sending it: `$timeFilter`, `$__interval` and template
variables, substituted the way Grafana's InfluxDB datasource (InfluxQL mode) does. A stand-in for the
Grafana frontend/backend at the one seam where no real Grafana runs here (docs/grafana.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: Grafana's default resolution for a panel about 1,000 px wide.
MAX_DATA_POINTS = 1000
#: The datasource's `timeInterval` (jsonData): the floor of `$__interval`.
DATASOURCE_MIN_INTERVAL = timedelta(seconds=10)

# kbn.roundInterval: (below this, use that)
_ROUND = [
    (timedelta(milliseconds=15), timedelta(milliseconds=10)),
    (timedelta(milliseconds=35), timedelta(milliseconds=20)),
    (timedelta(milliseconds=75), timedelta(milliseconds=50)),
    (timedelta(milliseconds=150), timedelta(milliseconds=100)),
    (timedelta(milliseconds=350), timedelta(milliseconds=200)),
    (timedelta(milliseconds=750), timedelta(milliseconds=500)),
    (timedelta(milliseconds=1500), timedelta(seconds=1)),
    (timedelta(milliseconds=3500), timedelta(seconds=2)),
    (timedelta(milliseconds=7500), timedelta(seconds=5)),
    (timedelta(milliseconds=12500), timedelta(seconds=10)),
    (timedelta(milliseconds=17500), timedelta(seconds=15)),
    (timedelta(milliseconds=25000), timedelta(seconds=20)),
    (timedelta(milliseconds=45000), timedelta(seconds=30)),
    (timedelta(milliseconds=90000), timedelta(minutes=1)),
    (timedelta(milliseconds=210000), timedelta(minutes=2)),
    (timedelta(milliseconds=450000), timedelta(minutes=5)),
    (timedelta(milliseconds=750000), timedelta(minutes=10)),
    (timedelta(milliseconds=1050000), timedelta(minutes=15)),
    (timedelta(milliseconds=1500000), timedelta(minutes=20)),
    (timedelta(milliseconds=2700000), timedelta(minutes=30)),
    (timedelta(milliseconds=5400000), timedelta(hours=1)),
    (timedelta(milliseconds=9000000), timedelta(hours=2)),
    (timedelta(milliseconds=16200000), timedelta(hours=3)),
    (timedelta(milliseconds=32400000), timedelta(hours=6)),
    (timedelta(milliseconds=86400000), timedelta(hours=12)),
]
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]/])")


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text)
    assert match, f"not a Grafana duration: {text!r}"
    return int(match[1]) * _UNITS[match[2]]


def format_interval(value: timedelta) -> str:
    ms = int(value.total_seconds() * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def round_interval(value: timedelta) -> timedelta:
    for below, use in _ROUND:
        if value < below:
            return use
    return timedelta(days=1) if value < timedelta(weeks=1) else timedelta(weeks=1)


def interval(start: datetime, end: datetime, min_interval: str | None) -> timedelta:
    """`$__interval`: range / max data points, rounded, never below the panel's or datasource's floor."""
    floor = parse_duration(min_interval) if min_interval else DATASOURCE_MIN_INTERVAL
    return max(round_interval((end - start) / MAX_DATA_POINTS), floor)


def time_filter(start: datetime, end: datetime) -> str:
    """Grafana's `$timeFilter` for InfluxQL: epoch milliseconds."""
    return f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"


def panel_range(
    panel: Mapping[str, Any], start: datetime, end: datetime, timezone: str
) -> tuple[datetime, datetime]:
    """A panel's own relative time (`timeFrom`) replaces the dashboard's range."""
    relative = panel.get("timeFrom")
    if relative is None:
        return start, end
    if relative == "now/d":
        local = end.astimezone(ZoneInfo(timezone))
        return local.replace(hour=0, minute=0, second=0, microsecond=0), end
    return end - parse_duration(relative.removeprefix("now-")), end


def variable_values(variable: Mapping[str, Any]) -> list[str]:
    """The values a custom variable's current selection stands for (All = every option)."""
    current = variable["current"]["value"]
    selected = current if isinstance(current, list) else [current]
    options = [o["value"] for o in variable["options"] if o["value"] != "$__all"]
    return options if "$__all" in selected else selected


def interpolate_variable(variable: Mapping[str, Any]) -> str:
    """Multi-value or include-all variables become `(a|b)` with regex escaping; single values stay as is."""
    values = variable_values(variable)
    if not variable["multi"] and not variable["includeAll"]:
        return values[0]
    escaped = [_REGEX_SPECIAL.sub(r"\\\1", value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(
    query: str, *, start: datetime, end: datetime, every: timedelta, variables: Mapping[str, str]
) -> str:
    text = query.replace("$timeFilter", time_filter(start, end))
    text = text.replace("$__interval_ms", str(int(every.total_seconds() * 1000)))
    text = text.replace("$__interval", format_interval(every))
    # Longest names first, so `$site` never eats the start of `$site_kind`.
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace(f"${{{name}}}", variables[name]).replace(f"${name}", variables[name])
    leftover = re.search(r"\$\{?[A-Za-z_]", text)
    assert leftover is None, f"unsubstituted macro in {text!r}"
    return text


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    query: str
    result_format: str
    panel_json: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref_id}"


def panel_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every target of every panel, and the annotation queries."""
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield PanelQuery(
                dashboard["uid"],
                panel["title"],
                target["refId"],
                target["query"],
                target["resultFormat"],
                panel,
            )
    for annotation in dashboard["annotations"]["list"]:
        target = annotation.get("target")
        if target and "query" in target:
            yield PanelQuery(
                dashboard["uid"],
                f"annotation {annotation['name']}",
                target["refId"],
                target["query"],
                target["resultFormat"],
                {},
            )


def dashboard_variables(dashboard: Mapping[str, Any]) -> dict[str, str]:
    return {v["name"]: interpolate_variable(v) for v in dashboard["templating"]["list"]}


def render_panel_query(dashboard: Mapping[str, Any], item: PanelQuery, start: datetime, end: datetime) -> str:
    """The query exactly as Grafana sends it for the dashboard's default variable selection."""
    first, last = panel_range(item.panel_json, start, end, dashboard["timezone"])
    every = interval(first, last, item.panel_json.get("interval"))
    return render(item.query, start=first, end=last, every=every, variables=dashboard_variables(dashboard))


def render_alert_query(model: Mapping[str, Any], relative: Mapping[str, int], now: datetime) -> str:
    """An alert rule's query: `$timeFilter` from its relative time range, `$__interval` from intervalMs."""
    start = now - timedelta(seconds=relative["from"])
    end = now - timedelta(seconds=relative["to"])
    every = timedelta(milliseconds=model.get("intervalMs", 1000))
    return render(model["query"], start=start, end=end, every=every, variables={})
