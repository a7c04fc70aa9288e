"""`pantau grafana push` against a FAKE Grafana: the recording HTTP server of tests/harness answers like
Grafana's HTTP API (404 for what it does not hold yet, then the objects it was given), and the test checks
the exact calls and payloads. No real Grafana can run here; the end-to-end check against Grafana happens
in the docker-compose stack (docs/grafana.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner

from backend.grafana import PushError
from backend.grafana.alerting import CONTACT_POINT_UID, policy_tree
from backend.grafana.push import Target, push
from pantau.cli import cli
from tests.backend.grafana.conftest import RULES, SITES, committed_build
from tests.harness.recording_http import RecordingServer, Reply, Request

pytestmark = pytest.mark.services  # a fake Grafana (RecordingServer) on loopback

BUILD = committed_build()
SETTINGS = BUILD.scope.settings


class FakeGrafana:
    """Holds the datasource, folder and contact point once created; everything else is accepted."""

    def __init__(self, *, fail_path: str | None = None) -> None:
        self.datasource: dict[str, Any] | None = None
        self.folder: dict[str, Any] | None = None
        self.contact_points: list[dict[str, Any]] = []
        self.fail_path = fail_path

    def __call__(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per endpoint, a route table
        method, path = request.method, request.path
        body = json.loads(request.body) if request.body else None
        if path == self.fail_path:
            return _json(500, {"message": "database is locked"})
        if (method, path) == ("GET", f"/api/datasources/uid/{SETTINGS.datasource_uid}"):
            return _json(200, self.datasource) if self.datasource else _json(404, {"message": "not found"})
        if (method, path) == ("POST", "/api/datasources"):
            self.datasource = body
            return _json(200, {"id": 1, "message": "Datasource added"})
        if (method, path) == ("PUT", f"/api/datasources/uid/{SETTINGS.datasource_uid}"):
            self.datasource = body
            return _json(200, {"message": "Datasource updated"})
        if (method, path) == ("GET", f"/api/folders/{SETTINGS.folder_uid}"):
            return _json(200, self.folder) if self.folder else _json(404, {"message": "folder not found"})
        if (method, path) == ("POST", "/api/folders"):
            self.folder = body
            return _json(200, {"id": 7, **body})
        if (method, path) == ("GET", "/api/v1/provisioning/contact-points"):
            return _json(200, self.contact_points)
        if (method, path) == ("POST", "/api/v1/provisioning/contact-points"):
            self.contact_points.append(body)
            return _json(202, body)
        if method in {"POST", "PUT"}:
            return _json(200, {"status": "success"})
        return _json(404, {"message": "unexpected call"})


def _json(status: int, body: Any) -> Reply:
    return Reply(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


def _target(url: str, webhook: str | None = "https://ops.example/hook") -> Target:
    return Target(
        url=url,
        token="glsa_test",
        influx_url="http://influxdb:8086",
        influx_user="grafana",
        influx_password="s3cret",
        webhook_url=webhook,
    )


def _calls(server: RecordingServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def _body(request: Request) -> Any:
    return json.loads(request.body)


def _expected_calls(*, first: bool) -> list[tuple[str, str]]:
    ds, folder = SETTINGS.datasource_uid, SETTINGS.folder_uid
    calls = [("GET", f"/api/datasources/uid/{ds}")]
    calls.append(("POST", "/api/datasources") if first else ("PUT", f"/api/datasources/uid/{ds}"))
    calls.append(("GET", f"/api/folders/{folder}"))
    if first:
        calls.append(("POST", "/api/folders"))
    calls += [("POST", "/api/dashboards/db")] * len(BUILD.dashboards)
    calls.append(("PUT", "/api/v1/provisioning/templates/pantau"))
    calls.append(("GET", "/api/v1/provisioning/contact-points"))
    calls.append(
        ("POST", "/api/v1/provisioning/contact-points")
        if first
        else ("PUT", f"/api/v1/provisioning/contact-points/{CONTACT_POINT_UID}")
    )
    calls.append(("PUT", "/api/v1/provisioning/policies"))
    calls += [("PUT", f"/api/v1/provisioning/folder/{folder}/rule-groups/{g.name}") for g in BUILD.groups]
    return calls


async def test_push_creates_everything_then_updates_in_place() -> None:
    fake = FakeGrafana()
    async with RecordingServer(fake) as server:
        await asyncio.to_thread(push, BUILD, _target(server.url))
        first = list(server.requests)
        server.requests.clear()
        await asyncio.to_thread(push, BUILD, _target(server.url))
        second = list(server.requests)

    assert [(r.method, r.path) for r in first] == _expected_calls(first=True)
    assert [(r.method, r.path) for r in second] == _expected_calls(first=False)
    assert all(r.headers["authorization"] == "Bearer glsa_test" for r in first + second)

    by_call = {(r.method, r.path): r for r in first}
    datasource = _body(by_call["POST", "/api/datasources"])
    assert datasource == {
        "name": SETTINGS.datasource_name,
        "uid": SETTINGS.datasource_uid,
        "type": "influxdb",
        "access": "proxy",
        "url": "http://influxdb:8086",
        "user": "grafana",
        "isDefault": True,
        "jsonData": {"dbName": "pantau", "httpMode": "POST", "version": "InfluxQL", "timeInterval": "10s"},
        "secureJsonData": {"password": "s3cret"},
    }
    assert _body(by_call["POST", "/api/folders"]) == {
        "title": SETTINGS.folder_title,
        "uid": SETTINGS.folder_uid,
    }
    dashboards = [_body(r) for r in first if r.path == "/api/dashboards/db"]
    assert dashboards == [
        {
            "dashboard": board,
            "folderUid": SETTINGS.folder_uid,
            "overwrite": True,
            "message": "pantau grafana push",
        }
        for board in BUILD.dashboards
    ]
    template = _body(by_call["PUT", "/api/v1/provisioning/templates/pantau"])
    assert 'define "pantau.message"' in template["template"]
    point = _body(by_call["POST", "/api/v1/provisioning/contact-points"])
    assert point["uid"] == CONTACT_POINT_UID and point["settings"]["url"] == "https://ops.example/hook"
    assert by_call["GET", "/api/v1/provisioning/contact-points"].params == {"name": "pantau-operations"}
    assert _body(by_call["PUT", "/api/v1/provisioning/policies"]) == policy_tree()
    for group in BUILD.groups:
        request = by_call[
            "PUT", f"/api/v1/provisioning/folder/{SETTINGS.folder_uid}/rule-groups/{group.name}"
        ]
        body = _body(request)
        assert body == group.api(SETTINGS.folder_uid)
        assert {rule["folderUID"] for rule in body["rules"]} == {SETTINGS.folder_uid}
        assert {rule["ruleGroup"] for rule in body["rules"]} == {group.name}

    # The second push sends the same objects: nothing changes in Grafana.
    again = {(r.method, r.path): r for r in second}
    assert _body(again["PUT", f"/api/datasources/uid/{SETTINGS.datasource_uid}"]) == datasource
    assert [_body(r) for r in second if r.path == "/api/dashboards/db"] == dashboards
    assert _body(again["PUT", f"/api/v1/provisioning/contact-points/{CONTACT_POINT_UID}"]) == point


async def test_without_a_webhook_no_contact_point_or_policy_is_touched() -> None:
    async with RecordingServer(FakeGrafana()) as server:
        await asyncio.to_thread(push, BUILD, _target(server.url, webhook=None))
    assert not [call for call in _calls(server) if "contact-points" in call[1] or "policies" in call[1]]


async def test_a_refused_call_names_the_object() -> None:
    failing = f"/api/v1/provisioning/folder/{SETTINGS.folder_uid}/rule-groups/odol"
    async with RecordingServer(FakeGrafana(fail_path=failing)) as server:
        with pytest.raises(PushError, match="rule group odol: Server Error 500: database is locked"):
            await asyncio.to_thread(push, BUILD, _target(server.url))


async def test_cli_push(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_INFLUX_PASSWORD", "from-env")
    monkeypatch.delenv("PANTAU_ALERT_WEBHOOK_URL", raising=False)
    async with RecordingServer(FakeGrafana()) as server:
        args = [
            "grafana",
            "push",
            "--sites",
            str(SITES),
            "--rules",
            str(RULES),
            "--url",
            server.url,
            "--token",
            "glsa_cli",
            "--influx-url",
            "http://influxdb:8086",
        ]
        result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert "created datasource pantau-influxdb" in result.output
    (created,) = [r for r in server.requests if (r.method, r.path) == ("POST", "/api/datasources")]
    assert _body(created)["secureJsonData"] == {"password": "from-env"}


async def test_an_unreachable_grafana_is_a_push_error() -> None:
    async with RecordingServer(FakeGrafana()) as server:
        url = server.url
    with pytest.raises(PushError, match=r"^datasource pantau-influxdb: "):
        await asyncio.to_thread(push, BUILD, _target(url))
