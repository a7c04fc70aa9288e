"""The status line's text and the alert lines printed as alerts start, move and end."""

from __future__ import annotations

from datetime import UTC, datetime

from pantau.contract import AlertTransition
from pantau_demo.status import Snapshot, alert_changes, render

AT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def alert(alert_id: str, state: str, level: str | None, message: str) -> AlertTransition:
    return AlertTransition.model_validate(
        {
            "site": "ampal-mufakat",
            "ts": AT,
            "source": "demo",
            "seq": 1,
            "alert_id": alert_id,
            "rule": "ampal-muka-air",
            "device": "wl-radar",
            "channel": "level",
            "state": state,
            "level": level,
            "severity": 1,
            "message": message,
            "started_at": AT,
        }
    )


def test_an_alert_gets_a_line_when_it_starts_moves_and_ends() -> None:
    pending = alert("a", "pending", "Siaga IV", "Siaga IV 1.52 m")
    lines, seen = alert_changes({}, [pending])
    assert lines == ["alert pending  wl-radar/level: Siaga IV 1.52 m"]
    assert alert_changes(seen, [pending])[0] == []  # nothing new, nothing printed
    firing = alert("a", "firing", "Siaga IV", "Siaga IV 1.55 m")
    lines, seen = alert_changes(seen, [firing])
    assert lines == ["alert firing   wl-radar/level: Siaga IV 1.55 m"]
    lines, seen = alert_changes(seen, [alert("a", "firing", "Siaga III", "Siaga III 2.01 m")])
    assert lines == ["alert firing   wl-radar/level: Siaga III 2.01 m"]
    lines, seen = alert_changes(seen, [])
    assert lines == ["alert ended    a"]
    assert seen == {}


def test_the_status_line_names_rates_counts_and_the_outbox() -> None:
    snapshot = Snapshot(
        readings=412, vehicles=44, firing=5, pending=1, transitions=17, outbox=3, dead_letters=0
    )
    line = render(snapshot, 3.14, 133.0)
    assert line == (
        "02:13  ·  readings 3.1/s (412)  ·  vehicles 44  ·  alerts 5 firing, 1 pending (17 transitions)"
        "  ·  outbox 3"
    )
    assert render(Snapshot(0, 0, 0, 0, 0, 0, dead_letters=2), 0.0, 0.0).endswith("dead letters 2")
