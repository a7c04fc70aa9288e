"""`pantau rules replay` over the embedded SQLite storage: what it prints, and how it refuses bad input.

The history is written with the storage schema's own `to_points` (the ingest path's mapping); the live
path into InfluxDB, and replay agreeing with it, is tested in
tests/backend/rules_service/test_rules_service.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from backend.storage.model import Retention
from backend.storage.schema import to_points
from backend.storage.sqlite import SqliteStorage
from pantau.cli import cli

from .helpers import T0, readings

RULES = """
language: en
rules:
  - id: muka-air
    kind: levels
    select: {site: ampal-mufakat, device: wl-radar, channel: level}
    pending: 1m
    hold: 5m
    levels:
      - {name: Siaga, trigger: 2.0, clear: 1.9, severity: 3}
"""
LEVELS = [1.0, 2.2, 2.3, 2.4, 2.2, 1.5, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]  # one a minute


def setup(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "backend.yaml").write_text("storage:\n  sqlite:\n    path: pantau.sqlite3\n")

    async def fill() -> None:
        storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
        await storage.setup()
        for minute, level in enumerate(LEVELS):
            await storage.write(to_points(readings(T0 + timedelta(minutes=minute), level=level)))
        await storage.close()

    asyncio.run(fill())
    return tmp_path / "rules.yaml", tmp_path / "backend.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["rules", "replay", *args])
    return result.exit_code, result.stdout, result.stderr


def test_replay_prints_the_transitions_the_rules_would_have_made(tmp_path: Path) -> None:
    rules, config = setup(tmp_path)
    window = ["--start", "2026-12-01T05:00", "--end", "2026-12-01T07:00"]
    code, out, err = invoke("--rules", str(rules), "--config", str(config), *window, "--json")
    assert code == 0, err
    story = [(t["state"], t.get("level")) for t in map(json.loads, out.splitlines())]
    assert story == [("pending", "Siaga"), ("firing", "Siaga"), ("resolved", "Normal")]
    assert f"{len(LEVELS)} messages replayed, 3 transitions" in err

    code, out, _ = invoke("--rules", str(rules), "--config", str(config), *window)
    assert code == 0
    assert "muka-air" in out and "ampal-mufakat/wl-radar/level" in out and "firing" in out


def test_replay_refuses_bad_input_naming_the_option(tmp_path: Path) -> None:
    rules, config = setup(tmp_path)
    base = ["--rules", str(rules), "--config", str(config)]
    code, _, err = invoke(*base, "--start", "2026-12-01", "--end", "2026-11-30")
    assert code == 2 and "--end" in err
    code, _, err = invoke(*base, "--start", "2026-12-01", "--end", "2026-12-02", "--tick", "soon")
    assert code == 2 and "--tick" in err
    code, _, err = invoke(*base, "--start", "2026-12-01'; DROP", "--end", "2026-12-02")
    assert code == 2 and "--start" in err
    (tmp_path / "bad-rules.yaml").write_text("rules: [{id: x, kind: levels}]\n")
    code, _, err = invoke("--rules", str(tmp_path / "bad-rules.yaml"), "--config", str(config), "--start",
                          "2026-12-01", "--end", "2026-12-02")  # fmt: skip
    assert code == 1 and "bad-rules.yaml" in err
