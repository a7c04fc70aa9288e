"""Grafana provisioning files (apiVersion 1): the InfluxDB datasource, the dashboard provider, alerting.

Secrets never land in these files: Grafana expands `${VAR}` in provisioning from its environment, so the
InfluxDB URL, user and password (a 2.x/3.x token goes in the password: their v1 API takes it there) and the
alert webhook come from the deployment. docs/grafana.md lists the variables and the mounts.
"""

from __future__ import annotations

from typing import Any, Final

from backend.grafana.alerting import ORG_ID, WEBHOOK_URL_ENV, RuleGroup, contact_point, policy_tree, templates
from backend.grafana.settings import GrafanaSettings
from backend.inventory import SiteInfo

Json = dict[str, Any]
INFLUX_URL_ENV: Final = "PANTAU_INFLUX_URL"
INFLUX_USER_ENV: Final = "PANTAU_INFLUX_USER"
INFLUX_PASSWORD_ENV: Final = "PANTAU_INFLUX_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
#: Where the deployment mounts `grafana/dashboards/` inside the Grafana container.
DASHBOARDS_MOUNT: Final = "/var/lib/grafana/dashboards/pantau"


def datasource(settings: GrafanaSettings, *, url: str, user: str, password: str) -> Json:
    """The InfluxDB datasource in InfluxQL mode (v1 API: InfluxDB 1.x, and 2.x/3.x compatibility)."""
    return {
        "name": settings.datasource_name,
        "uid": settings.datasource_uid,
        "type": "influxdb",
        "access": "proxy",
        "url": url,
        "user": user,
        "isDefault": True,
        "jsonData": {
            "dbName": settings.database,
            "httpMode": "POST",
            "version": "InfluxQL",
            "timeInterval": "10s",
        },
        "secureJsonData": {"password": password},
    }


def datasource_file(settings: GrafanaSettings) -> Json:
    source = datasource(
        settings,
        url=f"${{{INFLUX_URL_ENV}}}",
        user=f"${{{INFLUX_USER_ENV}}}",
        password=f"${{{INFLUX_PASSWORD_ENV}}}",
    )
    return {"apiVersion": 1, "datasources": [{**source, "orgId": ORG_ID, "editable": False}]}


def dashboard_provider_file(settings: GrafanaSettings) -> Json:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "pantau",
                "orgId": ORG_ID,
                "folder": settings.folder_title,
                "folderUid": settings.folder_uid,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_MOUNT, "foldersFromFilesStructure": False},
            }
        ],
    }


def rules_file(settings: GrafanaSettings, groups: list[RuleGroup]) -> Json:
    return {"apiVersion": 1, "groups": [group.provisioning(settings.folder_title) for group in groups]}


def contact_points_file() -> Json:
    point = contact_point(f"${{{WEBHOOK_URL_ENV}}}")
    receiver = {key: point[key] for key in ("uid", "type", "settings", "disableResolveMessage")}
    return {
        "apiVersion": 1,
        "templates": templates(),
        "contactPoints": [{"orgId": ORG_ID, "name": point["name"], "receivers": [receiver]}],
    }


def policies_file() -> Json:
    return {"apiVersion": 1, "policies": [{"orgId": ORG_ID, **policy_tree()}]}


def gazetteer(sites: list[SiteInfo]) -> Json:
    """Site locations for the geomap's lookup layer (GeoJSON; the feature id is the site id)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": site.id,
                "properties": {"id": site.id, "name": site.name, "kind": site.kind},
                "geometry": {"type": "Point", "coordinates": [site.lon, site.lat]},
            }
            for site in sites
        ],
    }
