"""The demo broker's overrides of amqtt's private members say, by name and amqtt version, when an amqtt
release moves them: at start, before a demo that would hang waiting for PUBACKs (test_broker.py shows the
behaviour each override gives)."""

from __future__ import annotations

import pytest
from amqtt.broker import Broker

from pantau_demo.broker import PLUGINS, AmqttInternalsMoved, EmbeddedBroker, amqtt_problems


async def test_the_installed_amqtt_has_every_member_the_overrides_rely_on() -> None:
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:1"}}, "plugins": PLUGINS})
    assert amqtt_problems(broker) == []


def test_a_member_gone_or_changed_is_named_with_the_amqtt_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def matches(self: Broker, topic: str, pattern: str) -> bool:
        return False

    monkeypatch.delattr(Broker, "_get_handler")
    monkeypatch.setattr(Broker, "_matches", matches)
    problems = amqtt_problems()
    assert len(problems) == 2, problems
    assert problems[0].startswith("Broker._get_handler is gone (amqtt 0.")
    assert problems[1].startswith("Broker._matches no longer takes ('topic', 'a_filter') (amqtt 0.")


async def test_the_demo_broker_refuses_to_start_on_an_amqtt_it_does_not_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(Broker, "_matches")
    with pytest.raises(AmqttInternalsMoved, match=r"Broker._matches is gone \(amqtt \S+\)"):
        async with EmbeddedBroker("127.0.0.1", 1):  # refused before it listens
            pass
