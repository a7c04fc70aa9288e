"""The engine's seams: acknowledgement, restart via snapshot/restore, alert ids, time handling, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend.rules import RuleEngine
from backend.rules.alert_lifecycle import AlertSubject, alert_id
from pantau.cli import cli

from .helpers import INVENTORY, SITE, T0, at, engine, readings, rules

LEVELS = {
    "id": "muka-air",
    "kind": "levels",
    "select": {"channel": "level"},
    "pending": "2m",
    "levels": [{"name": "Siaga", "trigger": 2.0, "clear": 1.9}, {"name": "Awas", "trigger": 3.0}],
}
SEC = timedelta(seconds=1)


def test_acknowledgement_names_who_and_when() -> None:
    eng = engine({**LEVELS, "pending": "0s"})
    (fired,) = eng.on_readings(readings(T0, level=2.5), T0).transitions
    assert fired.alert_id == f"muka-air:{SITE}:wl-radar:level" and fired.seq == 0
    ack = eng.acknowledge(fired.alert_id, "operator-budi", T0 + 60 * SEC, "tim BPBD menuju lokasi")
    assert ack is not None and ack.seq == 1 and ack.state == "firing"
    assert ack.acknowledgement is not None
    assert (ack.acknowledgement.by, ack.acknowledgement.at) == ("operator-budi", T0 + 60 * SEC)
    assert eng.active_alerts()[0].acknowledgement == ack.acknowledgement
    (escalated,) = eng.on_readings(readings(T0 + 120 * SEC, level=3.2), T0 + 120 * SEC).transitions
    assert escalated.level == "Awas" and escalated.acknowledgement is None  # escalation: acknowledge again
    assert eng.acknowledge("no-such-alert", "x", T0, None) is None


def test_restart_mid_pending_keeps_the_timer_and_never_fires_twice() -> None:
    eng = engine(LEVELS)
    (pending,) = eng.on_readings(readings(T0, level=2.1), T0).transitions
    assert pending.state == "pending"
    eng.on_readings(readings(T0 + 60 * SEC, level=2.1), T0 + 60 * SEC)
    saved = json.loads(json.dumps(eng.snapshot()))  # through JSON, as the backend stores it

    restarted = RuleEngine.restore(rules(LEVELS), INVENTORY, "worker-2", saved)
    assert [t.state for t in restarted.active_alerts()] == ["pending"]
    (fired,) = restarted.on_readings(readings(T0 + 120 * SEC, level=2.1), T0 + 120 * SEC).transitions
    assert (fired.state, fired.previous_state, fired.seq, fired.started_at) == ("firing", "pending", 1, T0)
    assert fired.source == "worker-2"

    again = RuleEngine.restore(
        rules(LEVELS), INVENTORY, "worker-2", json.loads(json.dumps(restarted.snapshot()))
    )
    assert again.on_readings(readings(T0 + 130 * SEC, level=2.2), T0 + 130 * SEC).transitions == []
    assert again.tick(T0 + 140 * SEC) == []
    (resolved,) = again.on_readings(readings(T0 + 150 * SEC, level=1.0), T0 + 150 * SEC).transitions
    assert (resolved.state, resolved.seq) == ("resolved", 2)


def test_restore_with_changed_rules() -> None:
    stale = {"id": "data-basi", "kind": "stale", "select": {"device": "wl-radar"}, "after": "10m"}
    eng = engine({**LEVELS, "pending": "0s"}, stale)
    eng.on_readings(readings(T0, level=2.5), T0)
    saved = eng.snapshot()
    # the levels rule is gone, the stale rule stays, a rate rule is new
    rate = {"id": "laju", "kind": "rate", "levels": [{"name": "cepat", "trigger": 0.5}]}
    restarted = RuleEngine.restore(rules(stale, rate), INVENTORY, "worker-1", saved)
    (orphan,) = restarted.tick(T0 + 60 * SEC)
    assert (orphan.rule, orphan.state, orphan.previous_state) == ("muka-air", "resolved", "firing")
    assert restarted.active_alerts() == []
    # the stale rule kept its memory of the last good reading: stale 10 min after T0, not after the restart
    (stale_alert,) = restarted.tick(T0 + 601 * SEC)
    assert (stale_alert.rule, stale_alert.state) == ("data-basi", "firing")


def test_restore_drops_state_that_no_longer_fits() -> None:
    eng = engine(LEVELS)
    eng.on_readings(readings(T0, level=2.1), T0)
    saved = eng.snapshot()
    renamed = {**LEVELS, "levels": [{"name": "Waspada", "trigger": 2.0}]}
    restarted = RuleEngine.restore(rules(renamed), INVENTORY, "worker-1", saved)
    # the pending 'Siaga' run is forgotten; the alert book still knows the pending alert and updates it
    (moved,) = restarted.on_readings(readings(T0 + 10 * SEC, level=2.1), T0 + 10 * SEC).transitions
    assert (moved.state, moved.level, moved.previous_level) == ("pending", "Waspada", "Siaga")
    with pytest.raises(ValueError, match="snapshot version"):
        RuleEngine.restore(rules(LEVELS), INVENTORY, "worker-1", {**saved, "version": 99})


def test_long_alert_ids_are_cut_and_hashed() -> None:
    rule, site, device = "odol-jalan-soekarno-hatta", "soekarno-hatta-km13", "wim-lajur-2-arah-kariangau"
    aid = alert_id(rule, AlertSubject(site, device))
    assert len(aid) == 64 and aid.startswith(f"{rule}:{site}:wim-") and "~" in aid
    assert aid != alert_id(rule, AlertSubject(site, device + "-b"))
    assert alert_id("gw", AlertSubject(SITE)) == f"gw:{SITE}"


def test_time_must_be_aware_and_source_a_slug() -> None:
    eng = engine(LEVELS)
    with pytest.raises(ValueError, match="timezone-aware"):
        eng.tick(datetime(2026, 12, 1, 6, 0))  # noqa: DTZ001 - the mistake under test
    with pytest.raises(ValueError, match="not a slug"):
        RuleEngine(rules(LEVELS), INVENTORY, "Worker 1")


def test_messages_in_the_file_language() -> None:
    eng = RuleEngine(rules({**LEVELS, "pending": "0s"}, language="id"), INVENTORY, "worker-1")
    (fired,) = eng.on_readings(readings(T0, level=2.5), T0).transitions
    assert fired.message == f"{SITE}/wl-radar/level: Siaga — 2.50 m (batas 2.00 m)"


EXAMPLE = Path(__file__).parents[3] / "firmware_configs/rules/balikpapan.yaml"
SITES = Path(__file__).parents[3] / "firmware_configs/sites"


def test_cli_check_summarises_a_good_file() -> None:
    result = CliRunner().invoke(cli, ["rules", "check", str(EXAMPLE), "--sites", str(SITES)])
    assert result.exit_code == 0, result.output
    assert "11 rules" in result.output
    assert "odol" in result.output and "ampal-muka-air, ampal-jagaan" in result.output


def test_cli_check_fails_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: rate-x, kind: rate, window: 0s, levels: [{name: x, trigger: 1}]}\n")
    result = CliRunner().invoke(cli, ["rules", "check", str(path), "--sites", str(SITES)])
    assert result.exit_code == 1
    assert f"{path}:2:30: rules[0] 'rate-x': window: must be positive" in result.output


LEVELS_WITH_HOLD = {
    "id": "muka-air",
    "kind": "levels",
    "select": {"site": SITE, "device": "wl-radar", "channel": "level"},
    "pending": "2m",
    "hold": "10m",
    "levels": [
        {"name": "Waspada", "trigger": 1.5, "clear": 1.4},
        {"name": "Siaga", "trigger": 2.0, "clear": 1.9},
    ],
}
STORM = [0.5, 1.6, 1.6, 1.6, 2.1, 2.1, 2.1, 2.1] + [1.0] * 20  # one value a minute


def test_a_backlog_replayed_hours_late_is_judged_on_its_own_timeline() -> None:
    """A gateway replays its outbox five hours late while the clock ticks: the ticks must not settle a
    hold the backlog would contradict; the transitions equal those of the same data live."""

    def story(arrival_delay: timedelta, ticks: bool) -> list[tuple[str, str | None, datetime]]:
        e = engine(LEVELS_WITH_HOLD)
        out = []
        for minute, value in enumerate(STORM):
            ts = at(f"{minute}m")
            now = ts + arrival_delay + timedelta(seconds=minute)  # the replay runs one reading a second
            out += e.on_readings(readings(ts, level=value), now).transitions
            if ticks:
                out += e.tick(now + timedelta(milliseconds=500))
        out += e.tick(at(f"{len(STORM)}m") + arrival_delay + timedelta(hours=1))  # then silence
        return [(t.state, t.level, t.ts) for t in out]

    live = story(timedelta(seconds=1), ticks=False)
    assert [(s, level) for s, level, _ in live] == [
        ("pending", "Waspada"),
        ("firing", "Waspada"),
        ("firing", "Siaga"),
        ("resolved", "Normal"),
    ]
    assert story(timedelta(hours=5), ticks=True) == live


def test_an_alerts_first_transition_has_no_previous_state_and_a_refire_says_resolved() -> None:
    eng = engine({**LEVELS, "pending": "0s"})
    (first,) = eng.on_readings(readings(T0, level=2.5), T0).transitions
    assert (first.state, first.previous_state, first.previous_level) == ("firing", None, None)
    assert "previous_state" not in json.loads(first.model_dump_json(exclude_none=True))
    (resolved,) = eng.on_readings(readings(T0 + 60 * SEC, level=1.0), T0 + 60 * SEC).transitions
    (again,) = eng.on_readings(readings(T0 + 120 * SEC, level=2.5), T0 + 120 * SEC).transitions
    assert (resolved.previous_state, again.previous_state) == ("firing", "resolved")
