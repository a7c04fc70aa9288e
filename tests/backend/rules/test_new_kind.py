"""Adding a rule kind is one folder and one registry line (backend/rules/README.md, "Adding a rule kind").

The README's example kind lives in `new_kind/battery/`. This copies the backend into a temporary tree, drops
the folder into `backend/rules/kinds/`, adds the registry line and nothing else, and runs the rules file's
checks, the engine and Grafana's generator there in a child Python: if a kind ever needs an edit outside its
folder and the registry, this fails where it broke.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

pytestmark = pytest.mark.services  # a child Python runs the copied tree

ROOT: Final = Path(__file__).resolve().parents[3]
KIND: Final = Path(__file__).parent / "new_kind" / "battery"

SCRIPT: Final = """
import json
from datetime import UTC, datetime, timedelta

from backend.grafana.levels import rule_steps
from backend.rules import RuleEngine, StaticInventory
from backend.rules.config import RULE_KINDS, validate_rules
from backend.rules.kinds import KINDS
from pantau.config import ConfigError
from pantau.contract import Reading, Readings

levels = [
    {"name": "lemah", "trigger": 11.8, "clear": 12.2},
    {"name": "kritis", "trigger": 11.2, "clear": 11.6},
]
rule = {"id": "aki", "kind": "battery", "select": {"channel": "supply"}, "levels": levels}
rules = validate_rules({"language": "en", "rules": [rule]}, source="rules.yaml")
try:
    validate_rules({"rules": [{**rule, "levels": [], "windw": 1}]}, source="rules.yaml")
except ConfigError as exc:
    refused = str(exc)
engine = RuleEngine(rules, StaticInventory(), source="w1")
t0 = datetime(2026, 12, 3, tzinfo=UTC)
fired = []
for i, volts in enumerate([12.6, 11.7, 11.1, 11.9, 12.4]):
    at = t0 + timedelta(minutes=i)
    msg = Readings(site="ampal-mufakat", gateway="gw", seq=i + 1, ts=at, device="box",
                   channels={"supply": Reading(value=volts, unit="V")})
    fired.append([[t.state, t.level] for t in engine.on_readings(msg, at).transitions])
snapshot = RuleEngine.restore(rules, StaticInventory(), "w1", engine.snapshot()).snapshot()
print(json.dumps({
    "kinds": list(RULE_KINDS),
    "group": KINDS["battery"].alert_group,
    "steps": [[s.value, s.color] for s in rule_steps(rules.rules[0])],
    "fired": fired,
    "refused": refused,
    "restored": snapshot == engine.snapshot(),
}))
"""


def test_a_kind_added_as_the_readme_shows_runs_everywhere(tmp_path: Path) -> None:
    for package in ("backend", "pantau"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(KIND, tmp_path / "backend" / "rules" / "kinds" / "battery")
    registry = tmp_path / "backend" / "rules" / "kinds" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    # The one registry line (and the import of the folder it names).
    text = text.replace(
        "from backend.rules.kinds import accumulation,",
        "from backend.rules.kinds import accumulation, battery,",
    )
    text = text.replace(
        '    "wim_drift": wim_drift.KIND,\n',
        '    "wim_drift": wim_drift.KIND,\n    "battery": battery.KIND,\n',
    )
    registry.write_text(text, encoding="utf-8")

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["kinds"][-1] == "battery" and result["group"] == "data-quality"
    # Lower is worse: below 11.2 V the worse level, 11.2-11.8 the first, above 11.8 V well.
    assert result["steps"] == [[None, "orange"], [11.2, "#EAB839"], [11.8, "green"]]
    assert result["fired"] == [
        [],
        [["firing", "lemah"]],
        [["firing", "kritis"]],
        [["firing", "lemah"]],
        [["resolved", "Normal"]],
    ]
    # The rules file's errors know the kind's fields: an empty level list and a typo, named as for any kind.
    assert "rules[0] 'aki': levels: List should have at least 1 item" in result["refused"]
    assert "rules[0] 'aki': windw: Extra inputs are not permitted" in result["refused"]
    assert result["restored"]
