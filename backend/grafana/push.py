"""`pantau grafana push`: sync the generated objects into a running Grafana through its HTTP API.

Idempotent: each object is looked up by its fixed uid and created or updated in place, so pushing twice
changes nothing the second time. Order matters: the datasource and the folder exist before the dashboards
and rule groups that refer to them. The contact point and notification policy are pushed only with a
webhook URL: the policy tree is the organisation's whole tree, replaced (as file provisioning does).

Objects pushed here carry Grafana's `api` provenance; do not also provision the same uids from files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from backend.grafana import PushError
from backend.grafana.alerting import CONTACT_POINT, contact_point, policy_tree, templates
from backend.grafana.build import Build
from backend.grafana.provisioning import datasource

logger = logging.getLogger(__name__)

Json = dict[str, Any]
_NOT_FOUND = 404


@dataclass(frozen=True, slots=True)
class Target:
    """Where to push and what the datasource connects to (the InfluxDB as Grafana's server sees it)."""

    url: str
    token: str
    influx_url: str
    influx_user: str = ""
    influx_password: str = ""
    webhook_url: str | None = None
    timeout_s: float = 10.0


def connect(target: Target) -> Any:
    """A grafana-client API object for `target` (token auth)."""
    return GrafanaApi.from_url(target.url, credential=target.token, timeout=target.timeout_s)


def push(build: Build, target: Target, api: Any = None) -> list[str]:
    """Push everything; returns one line per object (`created`/`updated`/`pushed`). Raises PushError."""
    api = api or connect(target)
    settings = build.scope.settings
    done: list[str] = []

    uid = settings.datasource_uid
    source = datasource(
        settings, url=target.influx_url, user=target.influx_user, password=target.influx_password
    )
    if _exists(f"datasource {uid}", api.datasource.get_datasource_by_uid, uid):
        _call(f"datasource {uid}", api.datasource.update_datasource_by_uid, uid, source)
        done.append(f"updated datasource {uid}")
    else:
        _call(f"datasource {uid}", api.datasource.create_datasource, source)
        done.append(f"created datasource {uid}")

    folder = settings.folder_uid
    found = _exists(f"folder {folder}", api.folder.get_folder, folder)
    if found is None:
        _call(f"folder {folder}", api.folder.create_folder, settings.folder_title, uid=folder)
        done.append(f"created folder {folder}")
    elif found.get("title") != settings.folder_title:
        _call(
            f"folder {folder}", api.folder.update_folder, folder, title=settings.folder_title, overwrite=True
        )
        done.append(f"updated folder {folder}")

    for board in build.dashboards:
        payload = {
            "dashboard": board,
            "folderUid": folder,
            "overwrite": True,
            "message": "pantau grafana push",
        }
        _call(f"dashboard {board['uid']}", api.dashboard.update_dashboard, payload)
        done.append(f"pushed dashboard {board['uid']}")

    provisioning = api.alertingprovisioning
    for template in templates():
        name = template["name"]
        _call(
            f"template {name}",
            provisioning.create_or_update_template,
            name,
            {"template": template["template"]},
        )
        done.append(f"pushed template {name}")

    if target.webhook_url is not None:
        point = contact_point(target.webhook_url)
        what = f"contact point {point['uid']}"
        existing = _call(what, provisioning.get_contactpoints, name=CONTACT_POINT) or []
        if any(item.get("uid") == point["uid"] for item in existing):
            _call(what, provisioning.update_contactpoint, point["uid"], point)
            done.append(f"updated {what}")
        else:
            _call(what, provisioning.create_contactpoint, point)
            done.append(f"created {what}")
        _call("notification policies", provisioning.set_notification_policy_tree, policy_tree())
        done.append("pushed notification policy tree")

    for group in build.groups:
        _call(
            f"rule group {group.name}", provisioning.update_rule_group, folder, group.name, group.api(folder)
        )
        done.append(f"pushed rule group {group.name} ({len(group.rules)} rules)")
    return done


def _call(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    # grafana-client lets its HTTP library's connection errors through; they are OSErrors.
    except (GrafanaException, OSError) as exc:
        raise PushError(f"{what}: {exc}") from exc


def _exists(what: str, call: Callable[..., Any], *args: Any) -> Json | None:
    """The object if Grafana has it, None on 404."""
    try:
        found: Json = call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == _NOT_FOUND:
            return None
        raise PushError(f"{what}: {exc}") from exc
    except (GrafanaException, OSError) as exc:
        raise PushError(f"{what}: {exc}") from exc
    return found
