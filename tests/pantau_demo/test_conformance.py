"""What other services see of a running demo, checked as they would check it: the demo's real processes
(simulators, gateways, backend with rules) publish to a real Mosquitto; every message captured until each
kind has been seen is validated against docs/schema by Python `jsonschema` (formats on) and by ajv (strict),
by the schema its topic names, not by pantau's decoder, and carries its content type and contract version
as MQTT v5 properties. Then a subscriber that connects late is handed a
retained status for every device and one retained message per active alert."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiomqtt
import httpx
import pytest

from pantau.contract import Topics
from pantau.contract.topics import MESSAGE_KIND_FOR_TOPIC
from tests.harness.ajv import ajv_validate, install_ajv
from tests.harness.mosquitto import Mosquitto
from tests.harness.retained import retained_under
from tests.pantau.contract.published import MESSAGE_SCHEMA, SCHEMA_DIR, SCHEMA_FOR_KIND, problems
from tests.pantau_demo.demo_process import STOP_WITHIN_S, WITHIN_S, DemoProcess

PREFIX: Final = "pantau/v1"
KINDS: Final = frozenset(SCHEMA_FOR_KIND)
#: Captured at least: every kind comes within seconds; this many take the storm into its alert levels.
MIN_MESSAGES: Final = 150


@dataclass
class Capture:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    #: (content type, user properties) of each message, as MQTT v5 delivered them.
    properties: list[tuple[str | None, list[tuple[str, str]]]] = field(default_factory=list)


async def _capture(broker: Mosquitto, demo: DemoProcess, capture: Capture, deadline: float) -> None:
    """Record everything under the prefix until every kind has been seen in at least MIN_MESSAGES messages
    (or the deadline passes)."""
    topics = Topics(PREFIX)
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(f"{PREFIX}/#", qos=1)
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            async for message in client.messages:
                payload = bytes(message.payload)  # type: ignore[arg-type]
                capture.messages.append((message.topic.value, payload))
                props = message.properties
                capture.properties.append(
                    (getattr(props, "ContentType", None), list(getattr(props, "UserProperty", [])))
                )
                if payload:
                    capture.kinds.add(MESSAGE_KIND_FOR_TOPIC[topics.parse(message.topic.value).kind])
                if capture.kinds == KINDS and len(capture.messages) >= MIN_MESSAGES:
                    return
                if demo.process.poll() is not None:
                    pytest.fail(f"the demo exited:\n{demo.tail()}")


async def _retained_matches_active(broker: Mosquitto, demo: DemoProcess) -> tuple[set[str], set[str]]:
    """(alert ids retained, alert ids the API lists active), read while the active alerts stood still."""
    async with httpx.AsyncClient(base_url=demo.api, timeout=5) as api:
        while True:
            before = {a["alert_id"] for a in (await api.get("/alerts/active")).json()["alerts"]}
            found = await retained_under(broker.host, broker.port, f"{PREFIX}/alerts")
            after = {a["alert_id"] for a in (await api.get("/alerts/active")).json()["alerts"]}
            if before == after:
                return {json.loads(p)["alert_id"] for p in found.values()}, after


@pytest.mark.timeout(WITHIN_S + 3 * STOP_WITHIN_S + 60)
async def test_every_demo_message_validates_against_the_published_schemas(
    start_demo: Callable[..., DemoProcess], mosquitto: Mosquitto, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    ajv = install_ajv(pytestconfig.cache)  # type: ignore[arg-type]
    demo = start_demo(
        "--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}", "--duration", f"{WITHIN_S + 90:.0f}s"
    )
    capture = Capture()
    deadline = time.monotonic() + WITHIN_S
    with contextlib.suppress(TimeoutError):
        await _capture(mosquitto, demo, capture, deadline)
    assert capture.kinds == KINDS, f"kinds seen in {WITHIN_S:.0f} s: {sorted(capture.kinds)}"

    # Every message says what it is before it is parsed (MQTT v5): JSON, of contract version 1.
    described = [p for (_t, payload), p in zip(capture.messages, capture.properties, strict=True) if payload]
    assert {(ct, tuple(up)) for ct, up in described} == {
        ("application/json", (("pantau-schema-version", "1"),))
    }

    # Every message against the schema of its topic's kind and against message.schema.json.
    topics = Topics(PREFIX)
    checked: list[tuple[str, str]] = []
    wrong = []
    for topic, payload in capture.messages:
        if not payload:  # a resolved alert's retained message cleared: no message, by the contract
            continue
        schema = SCHEMA_FOR_KIND[MESSAGE_KIND_FOR_TOPIC[topics.parse(topic).kind]]
        document = json.loads(payload)
        for name in (schema, MESSAGE_SCHEMA):
            checked.append((name, payload.decode()))
            if found := problems(name, document):
                wrong.append(f"{topic} vs {name}: {found[:3]}")
    assert wrong == []
    schemas = sorted(SCHEMA_DIR.glob("*.schema.json"))
    compiled, results = ajv_validate(ajv, schemas, checked)
    assert len(compiled) == len(schemas) == len(KINDS) + 1  # one per message kind, and message.schema.json
    refused = [
        (item[0], r.errors[:2], item[1][:200])
        for item, r in zip(checked, results, strict=True)
        if not r.valid
    ]
    assert refused == []
    assert len(checked) >= 2 * (MIN_MESSAGES - 10), f"only {len(checked) // 2} messages captured"

    # A subscriber that connects now: a retained status for every enabled device, one message per alert.
    async with httpx.AsyncClient(base_url=demo.api, timeout=5) as api:
        sites = [s["id"] for s in (await api.get("/sites")).json()["sites"]]
        devices = {
            (site, d["id"])
            for site in sites
            for d in (await api.get(f"/sites/{site}/devices")).json()["devices"]
            if d["enabled"]
        }
    retained = await retained_under(mosquitto.host, mosquitto.port, PREFIX)
    statuses = {
        (document["site"], document["device"])
        for topic, payload in retained.items()
        if payload and topics.parse(topic).kind.value == "device_status"
        for document in [json.loads(payload)]
    }
    assert devices - statuses == set(), "devices without a retained status"
    retained_alerts, active = await _retained_matches_active(mosquitto, demo)
    assert active, "the storm raised no alert"
    assert retained_alerts == active
    assert demo.interrupt() == 0, demo.tail()
