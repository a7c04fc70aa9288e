"""Grafana alerting generated from the rules file: rules that follow the backend's alert state, no-data
rules for the backend and each gateway, a message template, a contact point and a notification policy.

The backend evaluates every rule (levels, hysteresis, pending, QC, ODOL...) and stores each transition in
`alert`. Grafana re-evaluates nothing: a Grafana rule per rules-file rule fires while the backend's last
transition of an alert says `firing`, one alert instance per (site, device, channel). Only what the backend
cannot see about itself is judged here: silence from the backend (no `backend_status` heartbeat) and
from each gateway of the inventory.
"""

# InfluxQL text is what this module makes; ids and strings go through queries.eq/quote_ident.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from backend.grafana.dashboards.river import river_uid
from backend.grafana.queries import eq, where
from backend.grafana.scope import Scope
from backend.rules.config import Rule
from backend.rules.kinds import KINDS
from backend.rules.kinds.kind import ALERT_GROUPS
from backend.rules.kinds.stale.config import StaleRule
from backend.rules.rule import ThresholdRule
from backend.storage.schema import ALERT, BACKEND_STATUS, GATEWAY_STATUS

Json = dict[str, Any]
ORG_ID: Final = 1
EXPRESSION_UID: Final = "__expr__"
CONTACT_POINT: Final = "pantau-operations"
CONTACT_POINT_UID: Final = "pantau-operations-webhook"
TEMPLATE_NAME: Final = "pantau"
WEBHOOK_URL_ENV: Final = "PANTAU_ALERT_WEBHOOK_URL"
EVALUATE_EVERY: Final = timedelta(minutes=1)

NO_DATA_GROUP: Final = "no-data"

TEMPLATE: Final = """{{ define "pantau.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}]
{{- " " }}{{ .CommonLabels.alertname }}
{{- end }}
{{ define "pantau.message" -}}
{{ range .Alerts -}}
{{ .Labels.alertname }}{{ if .Labels.site }} — {{ .Labels.site }}{{ end }}
{{- if .Labels.device }}/{{ .Labels.device }}{{ end }}{{ if .Labels.channel }}/{{ .Labels.channel }}{{ end }}
{{ .Annotations.summary }}
{{ if .Annotations.description }}{{ .Annotations.description }}
{{ end }}{{ if .DashboardURL }}{{ .DashboardURL }}
{{ end }}
{{ end -}}
{{- end }}
"""


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: list[Json]

    def provisioning(self, folder_title: str) -> Json:
        """The group in a provisioning file (`groups:` of apiVersion 1; the folder by title)."""
        return {
            "orgId": ORG_ID,
            "name": self.name,
            "folder": folder_title,
            "interval": _duration(EVALUATE_EVERY),
            "rules": self.rules,
        }

    def api(self, folder_uid: str) -> Json:
        """The group as `PUT /api/v1/provisioning/folder/{uid}/rule-groups/{name}` takes it."""
        rules = [
            {**rule, "folderUID": folder_uid, "ruleGroup": self.name, "orgID": ORG_ID} for rule in self.rules
        ]
        return {
            "title": self.name,
            "folderUid": folder_uid,
            "interval": int(EVALUATE_EVERY.total_seconds()),
            "rules": rules,
        }


def rule_groups(scope: Scope) -> list[RuleGroup]:
    groups = []
    for name in ALERT_GROUPS:
        rules = [_follow(scope, rule) for rule in scope.rules.rules if KINDS[rule.kind].alert_group == name]
        if rules:
            groups.append(RuleGroup(name, rules))
    groups.append(RuleGroup(NO_DATA_GROUP, [_backend_silent(scope), *_gateways_silent(scope)]))
    return groups


def _query(scope: Scope, ref_id: str, query: str, lookback: timedelta) -> Json:
    return {
        "refId": ref_id,
        "relativeTimeRange": {"from": int(lookback.total_seconds()), "to": 0},
        "datasourceUid": scope.settings.datasource_uid,
        "model": {
            "refId": ref_id,
            "datasource": {"type": "influxdb", "uid": scope.settings.datasource_uid},
            "query": query,
            "rawQuery": True,
            "resultFormat": "time_series",
            "intervalMs": 60_000,
            "maxDataPoints": 43_200,
        },
    }


def _reduce(ref_id: str, expression: str) -> Json:
    return {
        "refId": ref_id,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSION_UID,
        "model": {
            "refId": ref_id,
            "type": "reduce",
            "expression": expression,
            "reducer": "last",
            "settings": {"mode": "dropNN"},
            "datasource": {"type": "__expr__", "uid": EXPRESSION_UID},
        },
    }


def _threshold(ref_id: str, expression: str, kind: str, value: float) -> Json:
    return {
        "refId": ref_id,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSION_UID,
        "model": {
            "refId": ref_id,
            "type": "threshold",
            "expression": expression,
            "conditions": [{"evaluator": {"type": kind, "params": [value]}}],
            "datasource": {"type": "__expr__", "uid": EXPRESSION_UID},
        },
    }


def _rule(
    uid: str,
    title: str,
    data: list[Json],
    *,
    no_data: str,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> Json:
    return {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": data,
        "noDataState": no_data,
        "execErrState": "Error",
        "for": "0s",
        "annotations": annotations,
        "labels": labels,
        "isPaused": False,
    }


def _follow(scope: Scope, rule: Rule) -> Json:
    """A Grafana rule that fires while the backend's alert of `rule` is firing, per site/device/channel."""
    src = scope.sources
    lookback = scope.settings.alert_lookback
    series = f"FROM {src.of(ALERT)} WHERE {where(eq('rule', rule.id))} AND $timeFilter"
    group_by = 'GROUP BY "site", "device", "channel"'
    severities = (
        [rule.level_severity(i) for i in range(len(rule.levels))] if isinstance(rule, ThresholdRule) else []
    )
    annotations = {
        "summary": f"Backend alert '{rule.id}' ({rule.kind}) firing, severity {{{{ $values.S.Value }}}}",
        "description": rule.description or "",
    }
    dashboard = _dashboard_of(scope, rule)
    if dashboard is not None:
        annotations["__dashboardUid__"] = dashboard
    return _rule(
        _uid("pantau-rule", rule.id),
        f"pantau: {rule.id}",
        [
            _query(scope, "A", f'SELECT last("firing") {series} {group_by}', lookback),
            _query(scope, "Q", f'SELECT last("severity") {series} {group_by}', lookback),
            _reduce("B", "A"),
            _reduce("S", "Q"),
            _threshold("C", "B", "gt", 0),
        ],
        no_data="OK",
        labels={
            "pantau_rule": rule.id,
            "pantau_kind": rule.kind,
            "severity": str(max(severities, default=rule.severity)),
        },
        annotations=annotations,
    )


def _dashboard_of(scope: Scope, rule: Rule) -> str | None:
    """The river dashboard of a channel rule that covers exactly one gauge site."""
    if not KINDS[rule.kind].river_dashboard:
        return None
    sites = [site.id for site in scope.river_sites() if scope.rule_series(rule, site)]
    return river_uid(sites[0]) if len(sites) == 1 else None


def _backend_silent(scope: Scope) -> Json:
    silence = scope.settings.backend_silence
    query = f'SELECT count("up") FROM {scope.sources.of(BACKEND_STATUS)} WHERE $timeFilter'
    return _rule(
        "pantau-backend-silent",
        "pantau: backend stores nothing",
        [_query(scope, "A", query, silence), _reduce("B", "A"), _threshold("C", "B", "lt", 1)],
        no_data="Alerting",
        labels={"pantau_rule": "backend-silent", "pantau_kind": "no-data", "severity": "6"},
        annotations={
            "summary": f"No backend heartbeat stored for {_duration(silence)}: every backend worker or "
            "InfluxDB is down (each worker stores one a minute). The backend cannot alert on itself.",
            "description": "Check `pantau backend` logs, the broker and InfluxDB.",
        },
    )


def _gateways_silent(scope: Scope) -> list[Json]:
    rules = []
    stale = [rule for rule in scope.rules_of(StaleRule) if rule.scope == "gateway"]
    for site in scope.sites():
        after = next(
            (rule.after for rule in stale if rule.select.matches_site(site.id, scope.inventory)),
            scope.settings.gateway_silence,
        )
        query = (
            f'SELECT count("online") FROM {scope.sources.of(GATEWAY_STATUS)} '
            f"WHERE {eq('site', site.id)} AND $timeFilter"
        )
        rules.append(
            _rule(
                _uid("pantau-gw", site.id),
                f"pantau: gateway {site.gateway} silent",
                [_query(scope, "A", query, after), _reduce("B", "A"), _threshold("C", "B", "lt", 1)],
                no_data="Alerting",
                labels={
                    "pantau_rule": "gateway-silent",
                    "pantau_kind": "no-data",
                    "site": site.id,
                    "severity": "3",
                },
                annotations={
                    "summary": f"No status from gateway {site.gateway} ({site.name}) stored for "
                    f"{_duration(after)}.",
                    "description": "Power, the uplink, or the gateway service at the site; or the backend.",
                },
            )
        )
    return rules


def templates() -> list[Json]:
    return [{"orgId": ORG_ID, "name": TEMPLATE_NAME, "template": TEMPLATE}]


def contact_point(url: str) -> Json:
    """The operations centre's webhook (a chat bridge, an incident tool), messages from the template."""
    return {
        "uid": CONTACT_POINT_UID,
        "name": CONTACT_POINT,
        "type": "webhook",
        "settings": {
            "url": url,
            "httpMethod": "POST",
            "title": '{{ template "pantau.title" . }}',
            "message": '{{ template "pantau.message" . }}',
        },
        "disableResolveMessage": False,
    }


def policy_tree() -> Json:
    """Everything to the operations centre, grouped per rule and site; urgent levels repeat sooner."""
    return {
        "receiver": CONTACT_POINT,
        "group_by": ["alertname", "site"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            {
                "receiver": CONTACT_POINT,
                "object_matchers": [["severity", "=~", "[5-9]|10"]],
                "group_wait": "10s",
                "repeat_interval": "30m",
            }
        ],
    }


def _uid(prefix: str, name: str) -> str:
    """Grafana uids are at most 40 characters; ids longer than that keep a readable start and a hash."""
    uid = f"{prefix}-{name}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[:31]}-{digest}"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
