"""The adapter's own check of the aiomqtt/paho-mqtt internals it relies on says what moved, by name and
with the installed versions (the real parts are exercised in test_internals.py, against Mosquitto)."""

from __future__ import annotations

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
