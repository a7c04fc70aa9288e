"""The adapter's own check of the aiomqtt/paho-mqtt internals it relies on says what moved, by name and
with the installed versions (the real parts are exercised in test_internals.py, against Mosquitto)."""

from __future__ import annotations

import aiomqtt
import paho.mqtt.client as paho
import pytest

from pantau.mqtt import InternalsMoved, ManualAcks, PubackWaiter, problems, versions


class Moved:
    """An aiomqtt client as a release without `_client` would make it."""


def test_a_missing_paho_client_is_named_with_the_library_versions() -> None:
    with pytest.raises(InternalsMoved, match=r"_client .*\(aiomqtt \S+, paho-mqtt \S+\)"):
        ManualAcks(Moved(), received=lambda _m: None, lost=lambda: None)  # type: ignore[arg-type]
    with pytest.raises(InternalsMoved, match=r"_client .*\(aiomqtt \S+, paho-mqtt \S+\)"):
        PubackWaiter(Moved())  # type: ignore[arg-type]


async def test_problems_names_a_moved_packet_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    def renamed(self: object, kind: int, data: bytes) -> None: ...

    monkeypatch.setattr(paho.Client, "_packet_queue", renamed)
    found = await problems()
    assert len(found) == 1 and "_packet_queue takes ('kind', 'data')" in found[0], found
    assert versions() in found[0]


async def test_a_paho_client_calling_back_with_another_api_is_refused_by_name() -> None:
    client = aiomqtt.Client("localhost")  # made, never connected
    with pytest.warns(DeprecationWarning, match="Callback API version 1"):
        client._client = paho.Client(paho.CallbackAPIVersion.VERSION1)  # as an older aiomqtt made it
    with pytest.raises(InternalsMoved, match=r"calls back with API .*\(aiomqtt \S+, paho-mqtt \S+\)"):
        PubackWaiter(client)
