"""What the rules worker does with the broker's retained alerts, given the engine's active ones (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from backend.rules_service.retained import ActiveAlerts, plan
from pantau.contract import AlertTransition, Topics, encode

TOPICS: Final = Topics("pantau/v1")
T0: Final = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def alert(
    device: str = "wl-radar", seq: int = 3, source: str = "backend-1", **changes: Any
) -> AlertTransition:
    fields: dict[str, Any] = {
        "site": "ampal-mufakat",
        "ts": T0,
        "source": source,
        "seq": seq,
        "alert_id": f"muka-air:ampal-mufakat:{device}:level",
        "rule": "muka-air",
        "device": device,
        "channel": "level",
        "state": "firing",
        "level": "Siaga",
        "severity": 4,
        "message": "Siaga",
        "started_at": T0,
    }
    return AlertTransition(**(fields | changes))


def topic_of(a: AlertTransition) -> str:
    return TOPICS.alert(a.site, a.rule, a.device, a.channel)


def test_what_the_broker_holds_as_the_engine_does_is_left_alone() -> None:
    radar = alert()
    done = plan({topic_of(radar): encode(radar)}, ActiveAlerts([radar]), "backend-1", TOPICS)
    assert (done.clear, done.publish, done.foreign, done.changes) == ([], [], [], 0)


def test_an_active_alert_the_broker_lost_or_holds_older_is_published_again() -> None:
    radar, pressure = alert(seq=5), alert("wl-pressure", seq=2)
    older = alert(seq=4)
    done = plan({topic_of(radar): encode(older)}, ActiveAlerts([radar, pressure]), "backend-1", TOPICS)
    assert done.clear == []
    assert [a.alert_id for a in done.publish] == [radar.alert_id, pressure.alert_id]


def test_a_retained_alert_of_this_worker_that_is_not_active_is_cleared() -> None:
    gone = alert("wl-pressure")  # its rule removed, or the rules state set aside
    done = plan({topic_of(gone): encode(gone)}, ActiveAlerts([]), "backend-1", TOPICS)
    assert done.clear == [topic_of(gone)]
    assert done.publish == []


def test_an_alert_retained_on_the_rules_old_topic_is_cleared_and_published_on_its_own() -> None:
    radar = alert()
    old_topic = TOPICS.alert("ampal-mufakat", "muka-air")  # one topic per rule, as an older release kept it
    done = plan({old_topic: encode(radar)}, ActiveAlerts([radar]), "backend-1", TOPICS)
    assert done.clear == [old_topic]
    assert done.publish == [radar]


def test_another_workers_alerts_and_what_is_not_an_alert_are_left_and_reported() -> None:
    theirs = alert(source="backend-2")
    retained = {
        topic_of(theirs): encode(theirs),
        "pantau/v1/alerts/ampal-mufakat/muka-air/junk": b"{not json",
        "pantau/v1/alerts/ampal-mufakat/cleared": b"",  # an empty retained publish is no message
    }
    done = plan(retained, ActiveAlerts([]), "backend-1", TOPICS)
    assert (done.clear, done.publish) == ([], [])
    assert [topic for topic, _ in done.foreign] == [
        "pantau/v1/alerts/ampal-mufakat/muka-air/junk",
        topic_of(theirs),
    ]
    assert "rules worker 'backend-2'" in dict(done.foreign)[topic_of(theirs)]
    assert (
        "not an alert pantau can read" in dict(done.foreign)["pantau/v1/alerts/ampal-mufakat/muka-air/junk"]
    )


def test_a_different_alert_on_an_active_alerts_topic_is_cleared_and_the_active_one_published() -> None:
    radar = alert()
    stranger = alert(alert_id="banjir:ampal-mufakat:wl-radar:level")
    done = plan({topic_of(radar): encode(stranger)}, ActiveAlerts([radar]), "backend-1", TOPICS)
    assert done.clear == [topic_of(radar)]
    assert done.publish == [radar]


def test_an_alert_with_a_transition_still_to_deliver_is_left_to_that_delivery() -> None:
    # Raised, or resolved, while the check read the broker: the dispatcher publishes (or clears) it next.
    raised, resolved = alert(seq=5), alert("wl-pressure")
    older = alert(seq=4)
    settling = frozenset({raised.alert_id, resolved.alert_id})
    retained = {topic_of(raised): encode(older), topic_of(resolved): encode(resolved)}
    done = plan(retained, ActiveAlerts([raised], settling), "backend-1", TOPICS)
    assert (done.clear, done.publish) == ([], [])
