"""Every panel, annotation and alert query of the generated Grafana objects, with `$timeFilter`,
`$__interval` and the template variables substituted as Grafana does, runs against a real influxd filled
through the real ingest path (conftest.py) and returns data: no query points at a measurement, field or
tag that does not exist, and each selected column has values.
"""

# Test queries name rule ids of the committed rules file (slugs), nothing from outside.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.grafana.alerting import EXPRESSION_UID
from tests.backend.grafana import grafana_sim
from tests.backend.grafana.conftest import Filled, committed_build

pytestmark = [pytest.mark.services, pytest.mark.asyncio(loop_scope="package")]

BUILD = committed_build()
DASHBOARDS = {board["uid"]: board for board in BUILD.dashboards}
PANEL_QUERIES = [item for board in BUILD.dashboards for item in grafana_sim.panel_queries(board)]
ALERT_QUERIES = [
    (rule["uid"], data)
    for group in BUILD.groups
    for rule in group.rules
    for data in rule["data"]
    if data["datasourceUid"] != EXPRESSION_UID
]
#: The dashboard range the tests use (the dataset spans the last three hours).
RANGE = timedelta(hours=6)


@pytest.mark.parametrize("item", PANEL_QUERIES, ids=[item.id for item in PANEL_QUERIES])
async def test_panel_query_returns_data(filled: Filled, item: grafana_sim.PanelQuery) -> None:
    board = DASHBOARDS[item.dashboard]
    statement = grafana_sim.render_panel_query(
        board, item, filled.now - RANGE, filled.now + timedelta(seconds=1)
    )
    result = await filled.query(statement)
    await _check_identifiers(filled, statement)
    _check_has_values(statement, result)


@pytest.mark.parametrize(
    ("uid", "data"), ALERT_QUERIES, ids=[f"{uid}/{d['refId']}" for uid, d in ALERT_QUERIES]
)
async def test_alert_query_matches_the_backend_alert_state(
    filled: Filled, uid: str, data: Mapping[str, Any]
) -> None:
    # Alert rules evaluate at the wall clock: the backend's stale rules run on it too. The silence rules
    # look 10 minutes back from now at data stamped when the fill began.
    assert datetime.now(UTC) - filled.now < timedelta(minutes=9), "the filled data is too old for the rules"
    statement = grafana_sim.render_alert_query(data["model"], data["relativeTimeRange"], datetime.now(UTC))
    result = await filled.query(statement)
    await _check_identifiers(filled, statement)
    rule = uid.removeprefix("pantau-rule-")
    if uid.startswith("pantau-rule-"):
        stored = await filled.count(
            f'SELECT count("state") FROM "pantau_long"."alert" WHERE "rule" = \'{rule}\''
        )
        if stored == 0:
            assert not result.get("series"), f"{statement}: data for a rule that never alerted"
            return
    _check_has_values(statement, result)


async def test_alert_rule_fires_exactly_for_the_backend_alerts_firing(filled: Filled) -> None:
    """The Grafana condition (last `firing` > 0 per site/device/channel) against the stored transitions."""
    checked = 0
    for group in BUILD.groups:
        for rule in group.rules:
            if not rule["uid"].startswith("pantau-rule-"):
                continue
            query = next(d for d in rule["data"] if d["refId"] == "A")
            result = await filled.query(
                grafana_sim.render_alert_query(query["model"], query["relativeTimeRange"], datetime.now(UTC))
            )
            firing = {
                tuple(series["tags"][k] for k in ("site", "device", "channel"))
                for series in result.get("series", [])
                if series["values"][-1][1] > 0
            }
            rule_id = rule["labels"]["pantau_rule"]
            last = await filled.query(
                f'SELECT "state" FROM "pantau_long"."alert" WHERE "rule" = \'{rule_id}\' '
                'GROUP BY "site", "device", "channel" ORDER BY time DESC LIMIT 1'
            )
            expected = {
                tuple(series["tags"][k] for k in ("site", "device", "channel"))
                for series in last.get("series", [])
                if series["values"][0][1] == "firing"
            }
            assert firing == expected, rule_id
            checked += len(expected)
    assert checked >= 4, "the dataset should leave several alerts firing"


async def test_violations_by_configuration_count_each_vehicle_as_judged(filled: Filled) -> None:
    """Most WIM records carry no tyre data, so no reported configuration: the panel groups by the one the
    backend judged (reported, or inferred from the axle groups), the same as stored with each vehicle."""
    board = DASHBOARDS["pantau-trucks"]
    counted: dict[str, dict[str, int]] = {}
    for item in grafana_sim.panel_queries(board):
        if item.panel != "Violations by axle configuration":
            continue
        statement = grafana_sim.render_panel_query(
            board, item, filled.now - RANGE, filled.now + timedelta(seconds=1)
        )
        for series in (await filled.query(statement))["series"]:
            (row,) = series["values"]
            counted.setdefault(series["columns"][1], {})[series["tags"]["configuration"]] = row[1]
    stored = await filled.query(
        'SELECT "jbi_configuration", "verdict", "axle_configuration" FROM "pantau_long"."vehicle"'
    )
    (series,) = stored["series"]
    rows = [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]
    expected_all = Counter(row["jbi_configuration"] or "unknown" for row in rows)
    expected_violations = Counter(
        row["jbi_configuration"] or "unknown" for row in rows if row["verdict"] == "violation"
    )
    assert counted == {"vehicles": dict(expected_all), "violations": dict(expected_violations)}
    assert any(row["axle_configuration"] is None and row["jbi_configuration"] for row in rows), (
        "the dataset should hold WIM records without tyre data"
    )
    assert expected_all["unknown"] == 4, "the weighbridge records (no axles) are judged 'unknown'"


def _check_has_values(statement: str, result: Mapping[str, Any]) -> None:
    series = result.get("series", [])
    assert series, f"no data for {statement}"
    columns = series[0]["columns"]
    for index, column in enumerate(columns):
        if column == "time":
            continue
        assert any(row[index] is not None for s in series for row in s["values"]), (
            f"column {column!r} is empty in every row of {statement}"
        )


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ALIAS = re.compile(r'\bAS\s+"([^"]+)"', re.IGNORECASE)
_FROM = re.compile(r'FROM\s+"([^"]+)"\."([^"]+)"')


async def _check_identifiers(filled: Filled, statement: str) -> None:
    """Every quoted name is a retention policy, a measurement read, an alias, or a tag or field key that
    InfluxDB holds for one of the measurements read."""
    sources = _FROM.findall(statement)
    assert sources, f"no retention-policy-qualified measurement in {statement}"
    allowed = set(_ALIAS.findall(statement))
    for policy, measurement in sources:
        allowed |= {policy, measurement}
        fields = await filled.query(f'SHOW FIELD KEYS FROM "{policy}"."{measurement}"')
        tags = await filled.query(f'SHOW TAG KEYS FROM "{policy}"."{measurement}"')
        keys = [row[0] for result in (fields, tags) for s in result.get("series", []) for row in s["values"]]
        assert keys, f"{policy}.{measurement} holds nothing: {statement}"
        allowed |= set(keys)
    unknown = set(_QUOTED.findall(statement)) - allowed
    assert not unknown, f"{sorted(unknown)} are neither tags nor fields of {sources}: {statement}"
