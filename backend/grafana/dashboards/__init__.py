"""The generated dashboards, one module each; `all_dashboards` is the list the build writes."""

from __future__ import annotations

from backend.grafana.dashboards.city import city_overview
from backend.grafana.dashboards.gateways import gateway_health
from backend.grafana.dashboards.river import river_gauges
from backend.grafana.dashboards.trucks import trucks
from backend.grafana.model import Dashboard
from backend.grafana.scope import Scope


def all_dashboards(scope: Scope) -> list[Dashboard]:
    """Every dashboard, in a fixed order (the city overview first)."""
    return [city_overview(scope), *river_gauges(scope), *trucks(scope), gateway_health(scope)]
