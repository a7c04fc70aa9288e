"""The generated files: committed and current, deterministic, and structurally what Grafana loads
(dashboard model fields, unique uids and panel ids, datasource and variable references that resolve,
alert rules whose conditions and expressions point at their own queries, a policy naming a contact point
that exists)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from backend.grafana.alerting import EXPRESSION_UID
from backend.grafana.build import Build, differences, write
from backend.grafana.model import GRID_WIDTH
from backend.grafana.scope import Scope
from pantau.cli import cli
from tests.backend.grafana.conftest import ROOT, RULES, SITES, committed_build

GRAFANA_DIR = ROOT / "grafana"
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
PANEL_TYPES = {"timeseries", "stat", "table", "geomap", "state-timeline", "histogram", "barchart", "bargauge"}
TRANSFORMATIONS = {"organize", "joinByField", "merge", "calculateField", "filterByValue"}
DASHBOARD_FIELDS = {
    "uid",
    "title",
    "tags",
    "timezone",
    "editable",
    "schemaVersion",
    "version",
    "time",
    "refresh",
    "templating",
    "annotations",
    "panels",
    "links",
    "graphTooltip",
}
PANEL_FIELDS = {"id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig", "options"}


def _files() -> dict[str, str]:
    return committed_build().files()


def _yaml(path: str) -> Any:
    return yaml.safe_load((GRAFANA_DIR / path).read_text(encoding="utf-8"))


def test_committed_files_are_current() -> None:
    """`pantau grafana build` would change nothing: regenerate and commit when this fails."""
    assert differences(_files(), GRAFANA_DIR) == []


def test_building_twice_gives_identical_files() -> None:
    assert Build.of(Scope.load(SITES, RULES)).files() == Build.of(Scope.load(SITES, RULES)).files()


def test_build_writes_and_removes_stale_files_and_check_reports_them(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["grafana", "build", "--sites", str(SITES), "--rules", str(RULES), "--out", str(tmp_path)]
    assert runner.invoke(cli, args).exit_code == 0
    assert runner.invoke(cli, [*args, "--check"]).exit_code == 0
    (tmp_path / "dashboards" / "pantau-city.json").write_text("{}", encoding="utf-8")
    (tmp_path / "dashboards" / "pantau-river-gone.json").write_text("{}", encoding="utf-8")
    (tmp_path / "README.md").write_text("hand-written, kept", encoding="utf-8")
    checked = runner.invoke(cli, [*args, "--check"])
    assert checked.exit_code == 1
    assert "changed: dashboards/pantau-city.json" in checked.output
    assert "extra: dashboards/pantau-river-gone.json" in checked.output
    assert runner.invoke(cli, args).exit_code == 0
    assert not (tmp_path / "dashboards" / "pantau-river-gone.json").exists()
    assert (tmp_path / "README.md").exists()
    assert differences(_files(), tmp_path) == []


def test_write_reports_nothing_when_current(tmp_path: Path) -> None:
    files = _files()
    write(files, tmp_path)
    assert write(files, tmp_path) == []


def _dashboards() -> list[dict[str, Any]]:
    return [
        json.loads((GRAFANA_DIR / p).read_text(encoding="utf-8"))
        for p in _files()
        if p.startswith("dashboards/")
    ]


def _datasource_uids() -> set[str]:
    return {source["uid"] for source in _yaml("provisioning/datasources/pantau.yaml")["datasources"]}


def test_dashboards_have_the_model_fields_and_unique_uids() -> None:
    boards = _dashboards()
    assert {b["uid"] for b in boards} >= {
        "pantau-city",
        "pantau-trucks",
        "pantau-gateways",
        "pantau-river-ampal-mufakat",
    }
    uids = [b["uid"] for b in boards]
    assert len(uids) == len(set(uids))
    for board in boards:
        assert board.keys() >= DASHBOARD_FIELDS, board["uid"]
        assert UID.match(board["uid"]), board["uid"]
        assert isinstance(board["schemaVersion"], int)
        assert "id" not in board, "a provisioned dashboard must not carry a database id"
        assert "pantau" in board["tags"]


@pytest.mark.parametrize("board", _dashboards(), ids=lambda b: b["uid"])
def test_panels_are_well_formed_and_references_resolve(board: dict[str, Any]) -> None:
    datasources = _datasource_uids()
    variables = {v["name"] for v in board["templating"]["list"]}
    used: set[str] = set()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique in a dashboard"
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        where = f"{board['uid']}: {panel['title']}"
        assert panel.keys() >= PANEL_FIELDS, where
        assert panel["type"] in PANEL_TYPES, where
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= GRID_WIDTH, where
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{where} overlaps another panel"
                cells.add((x, y))
        assert panel["datasource"]["uid"] in datasources, where
        assert panel["targets"], where
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in datasources, where
            assert target["rawQuery"] is True and target["resultFormat"] in {"time_series", "table"}, where
            used |= set(re.findall(r"\$([a-z]\w*)", target["query"])) - {"timeFilter"}
        for transformation in panel["transformations"]:
            assert transformation["id"] in TRANSFORMATIONS, where
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[0]["value"] is None, f"{where}: the first threshold step is the base"
        values = [s["value"] for s in steps[1:]]
        assert values == sorted(values), f"{where}: threshold steps must ascend"
    for annotation in board["annotations"]["list"]:
        if "target" in annotation:
            assert annotation["datasource"]["uid"] in datasources
            used |= set(re.findall(r"\$([a-z]\w*)", annotation["target"]["query"])) - {"timeFilter"}
    assert used <= variables, f"{board['uid']}: queries use undefined variables {used - variables}"
    for variable in board["templating"]["list"]:
        values = [o["value"] for o in variable["options"]]
        assert len(values) == len(set(values)), variable["name"]


def test_river_bands_are_the_rules_file_levels() -> None:
    board = json.loads(
        (GRAFANA_DIR / "dashboards" / "pantau-river-ampal-mufakat.json").read_text(encoding="utf-8")
    )
    panels = {p["title"]: p for p in board["panels"]}
    up = panels["Water level — ampal-muka-air"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in up] == [None, 1.5, 2.0, 2.5, 2.9]
    down = panels["Freeboard (distance down to the water) — ampal-jagaan"]["fieldConfig"]["defaults"][
        "thresholds"
    ]
    # Counting down: below 3.00 m is Bahaya (worst), 3.00-3.50 Siaga, above 3.50 safe.
    assert [(s["value"], s["color"]) for s in down["steps"]] == [
        (None, "dark-red"),
        (3.0, "red"),
        (3.5, "green"),
    ]
    trucks = json.loads((GRAFANA_DIR / "dashboards" / "pantau-trucks.json").read_text(encoding="utf-8"))
    (drift,) = [p for p in trucks["panels"] if p["title"] == "Scale drift"]
    # The engine judges |drift|: a scale reading light is as wrong as one reading heavy.
    assert [(s["value"], s["color"]) for s in drift["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        (None, "red"),
        (-10.0, "orange"),
        (-5.0, "green"),
        (5.0, "orange"),
        (10.0, "red"),
    ]


def test_provisioning_files_are_apiversion_1_and_point_at_each_other() -> None:
    datasources = _yaml("provisioning/datasources/pantau.yaml")
    (source,) = datasources["datasources"]
    assert source["type"] == "influxdb" and source["jsonData"]["version"] == "InfluxQL"
    assert (
        source["url"] == "${PANTAU_INFLUX_URL}"
        and source["secureJsonData"]["password"] == "${PANTAU_INFLUX_PASSWORD}"
    )
    provider = _yaml("provisioning/dashboards/pantau.yaml")
    rules = _yaml("provisioning/alerting/rules.yaml")
    points = _yaml("provisioning/alerting/contact-points.yaml")
    policies = _yaml("provisioning/alerting/policies.yaml")
    for document in (datasources, provider, rules, points, policies):
        assert document["apiVersion"] == 1
    (folder,) = {p["folder"] for p in provider["providers"]}
    names = [group["name"] for group in rules["groups"]]
    assert len(names) == len(set(names))
    receivers = {point["name"] for point in points["contactPoints"]}
    (policy,) = policies["policies"]
    assert policy["receiver"] in receivers
    assert {route["receiver"] for route in policy["routes"]} <= receivers
    templates = {t["name"] for t in points["templates"]}
    defined = set(re.findall(r'define "([^"]+)"', "".join(t["template"] for t in points["templates"])))
    for point in points["contactPoints"]:
        for receiver in point["receivers"]:
            used = set(re.findall(r'template "([^"]+)"', json.dumps(receiver["settings"])))
            assert used <= defined, used - defined
    assert templates == {"pantau"}
    uids = []
    for group in rules["groups"]:
        assert group["folder"] == folder
        for rule in group["rules"]:
            uids.append(rule["uid"])
            assert UID.match(rule["uid"]), rule["uid"]
            refs = {d["refId"] for d in rule["data"]}
            assert rule["condition"] in refs
            for data in rule["data"]:
                if data["datasourceUid"] == EXPRESSION_UID:
                    assert data["model"]["expression"] in refs, rule["uid"]
                else:
                    assert data["datasourceUid"] == source["uid"], rule["uid"]
                    assert data["relativeTimeRange"]["from"] > 0
            assert rule["noDataState"] in {"OK", "Alerting", "NoData"}
    assert len(uids) == len(set(uids))


def test_every_rules_file_rule_and_every_gateway_has_a_grafana_rule() -> None:
    scope = Scope.load(SITES, RULES)
    labels = [rule["labels"] for group in committed_build().groups for rule in group.rules]
    assert sorted(lbl["pantau_rule"] for lbl in labels if lbl["pantau_kind"] != "no-data") == sorted(
        rule.id for rule in scope.rules.rules
    )
    silent = sorted(lbl["site"] for lbl in labels if lbl["pantau_rule"] == "gateway-silent")
    assert silent == sorted(site.id for site in scope.sites())
    assert any(lbl["pantau_rule"] == "backend-silent" for lbl in labels)


def test_gazetteer_places_every_site() -> None:
    scope = Scope.load(SITES, RULES)
    features = json.loads((GRAFANA_DIR / "gazetteer" / "pantau-sites.geojson").read_text(encoding="utf-8"))
    placed = {f["id"]: f["geometry"]["coordinates"] for f in features["features"]}
    assert placed == {site.id: [site.lon, site.lat] for site in scope.sites()}
