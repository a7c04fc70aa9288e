"""Topic layout: build and parse agree, ids are validated, nothing can smuggle MQTT syntax into a topic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.contract import TopicError, TopicKind, TopicRef, Topics

topics = Topics()


def test_topics_follow_the_design_layout() -> None:
    assert topics.readings("ampal-mufakat", "wl-1") == "pantau/v1/ampal-mufakat/wl-1/readings"
    assert topics.vehicles("sh-km13", "wim-1") == "pantau/v1/sh-km13/wim-1/vehicles"
    assert topics.device_status("sh-km13", "wim-1") == "pantau/v1/sh-km13/wim-1/status"
    assert topics.gateway_status("sh-km13") == "pantau/v1/sh-km13/status"
    assert topics.alert("ampal-mufakat", "flood-level") == "pantau/v1/alerts/ampal-mufakat/flood-level"


@pytest.mark.parametrize(
    ("topic", "ref"),
    [
        ("pantau/v1/a/d/readings", TopicRef(TopicKind.READINGS, "a", device="d")),
        ("pantau/v1/a/d/vehicles", TopicRef(TopicKind.VEHICLES, "a", device="d")),
        ("pantau/v1/a/d/status", TopicRef(TopicKind.DEVICE_STATUS, "a", device="d")),
        ("pantau/v1/a/status", TopicRef(TopicKind.GATEWAY_STATUS, "a")),
        ("pantau/v1/alerts/a/r", TopicRef(TopicKind.ALERT, "a", rule="r")),
        # An alert for a rule called "status" is still an alert: `alerts` can never be a site.
        ("pantau/v1/alerts/a/status", TopicRef(TopicKind.ALERT, "a", rule="status")),
    ],
)
def test_parse_tells_what_a_topic_addresses(topic: str, ref: TopicRef) -> None:
    assert topics.parse(topic) == ref


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/a/d/readings",
        "pantau/v1/a/d/readingz",
        "pantau/v1/a/d/e/readings",
        "pantau/v1/a",
        "pantau/v1/A/d/readings",
        "pantau/v1//d/readings",
        "pantau/v1/a/+/readings",
        "pantau/v1/alerts/status",
        "pantau/v1/alerts/d/r/x/y/z",
    ],
)
def test_parse_rejects_foreign_topics_naming_them(topic: str) -> None:
    with pytest.raises(TopicError, match="topic"):
        topics.parse(topic)


@pytest.mark.parametrize("bad_id", ["", "A", "a/b", "a+b", "#", "$sys", "a b", "x" * 64, "-a", "ä"])
def test_builders_refuse_ids_outside_the_slug_alphabet(bad_id: str) -> None:
    with pytest.raises(TopicError, match="not a slug"):
        topics.readings(bad_id, "d")
    with pytest.raises(TopicError, match="not a slug"):
        topics.readings("s", bad_id)


def test_alerts_is_a_reserved_site_id() -> None:
    with pytest.raises(TopicError, match="reserved"):
        topics.gateway_status("alerts")


@pytest.mark.parametrize("prefix", ["", "/pantau", "pantau/", "pantau/+", "a/#", "$SYS/x", "a b"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(TopicError, match="prefix"):
        Topics(prefix)


def test_a_nested_prefix_works() -> None:
    nested = Topics("city/balikpapan/pantau")
    topic = nested.readings("s", "d")
    assert topic == "city/balikpapan/pantau/s/d/readings"
    assert nested.parse(topic) == TopicRef(TopicKind.READINGS, "s", device="d")


def test_subscription_filters() -> None:
    assert topics.shared("backend", "pantau/v1/+/+/readings") == "$share/backend/pantau/v1/+/+/readings"
    assert "pantau/v1/+/+/readings" in topics.all_gateway_traffic()
    assert topics.alerts_filter() == "pantau/v1/alerts/#"
    with pytest.raises(TopicError):
        topics.shared("a/b", "x")


#: Ids, with the words topics are made of drawn often: a device or rule named `status` must still parse.
ids = st.one_of(
    st.sampled_from(["status", "readings", "vehicles", "alerts", "v1", "pantau"]),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True),
)


@given(site=ids.filter(lambda s: s != "alerts"), device=ids, kind=st.sampled_from(list(TopicKind)))
def test_build_then_parse_is_identity(site: str, device: str, kind: TopicKind) -> None:
    rule = device if kind is TopicKind.ALERT else None
    dev = None if kind in (TopicKind.ALERT, TopicKind.GATEWAY_STATUS, TopicKind.RECEIPTS) else device
    topic = topics.for_message(kind, site, device=dev, rule=rule)
    assert topics.parse(topic) == TopicRef(kind, site, device=dev, rule=rule)


def test_one_topic_per_alert_below_its_rule() -> None:
    # A rule watching three channels raises three alerts: three topics, so each can be retained.
    channels = [topics.alert("ampal-mufakat", "ampal-muka-air", "wl-radar", c) for c in ("level", "a", "b")]
    assert channels[0] == "pantau/v1/alerts/ampal-mufakat/ampal-muka-air/wl-radar/level"
    assert len(set(channels)) == 3
    assert topics.parse(channels[0]) == TopicRef(
        TopicKind.ALERT, "ampal-mufakat", device="wl-radar", rule="ampal-muka-air", channel="level"
    )
    assert topics.parse("pantau/v1/alerts/s/stale/wim-1") == TopicRef(
        TopicKind.ALERT, "s", device="wim-1", rule="stale"
    )
    with pytest.raises(TopicError, match="device before the channel"):
        topics.alert("s", "r", channel="level")
    with pytest.raises(TopicError):
        topics.parse("pantau/v1/alerts/s/r/d/c/extra")


@given(site=ids.filter(lambda s: s != "alerts"), rule=ids, device=ids, channel=ids, depth=st.integers(0, 2))
def test_alert_topics_round_trip(site: str, rule: str, device: str, channel: str, depth: int) -> None:
    dev = device if depth >= 1 else None
    chan = channel if depth == 2 else None
    topic = topics.for_message(TopicKind.ALERT, site, device=dev, rule=rule, channel=chan)
    assert topics.parse(topic) == TopicRef(TopicKind.ALERT, site, device=dev, rule=rule, channel=chan)
