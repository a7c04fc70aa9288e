"""One worker with rules, a webhook notifier and the API: an alert reaches MQTT while the webhook is
down, the webhook gets it (signed) once it is back, and an operator acknowledges it through the API, which
publishes and stores the acknowledgement like any transition."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from backend.rules_service.notifiers import sign
from backend.storage.influx import InfluxStorage
from backend.storage.model import SeriesQuery
from backend.storage.schema import ALERT
from pantau.contract import Reading, Readings
from tests.harness.alerts import AlertListener, rules_config, rules_worker
from tests.harness.backend import GatewayFactory, eventually
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port
from tests.harness.recording_http import RecordingServer, Reply, Request

OPERATOR_KEY = "test-operator-key-0123456789abcdef"  # a test secret, not a credential
SECRET_ENV = "PANTAU_TEST_WEBHOOK_SECRET"


def rising(start: datetime) -> list[Readings]:
    """Twenty minutes from 1.0 m to 2.2 m: Waspada then Siaga, which stays firing."""
    return [
        Readings(
            site="ampal-mufakat",
            gateway="gw-ampal-mufakat",
            seq=i + 1,
            ts=start + timedelta(minutes=i),
            device="wl-radar",
            channels={"level": Reading(value=1.0 + 0.06 * i, unit="m")},
        )
        for i in range(21)
    ]


RULES = """
language: en
rules:
  - id: muka-air
    kind: levels
    select: {site: ampal-mufakat, device: wl-radar, channel: level}
    unit: m
    pending: 2m
    hold: 10m
    levels:
      - {name: Waspada, trigger: 1.5, clear: 1.4, severity: 2}
      - {name: Siaga, trigger: 2.0, clear: 1.9, severity: 4}
"""


async def test_alert_flows_to_mqtt_webhook_and_api_acknowledgement(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influx_storage: InfluxStorage,
    gateway: GatewayFactory,
    alerts: AlertListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    webhook_up = asyncio.Event()
    accepted: list[Request] = []

    def webhook(request: Request) -> Reply:
        if not webhook_up.is_set():
            return Reply(503)
        accepted.append(request)
        return Reply(204)

    port = free_port()
    digest = hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()
    async with RecordingServer(webhook) as hook:
        notifier = {
            "kind": "webhook",
            "url": f"{hook.url}/alerts",
            "secret_env": SECRET_ENV,
            "retry_cap": "1s",
        }
        config = rules_config(
            mosquitto,
            mqtt_topic_root,
            tmp_path,
            RULES,
            rules_section={"notifiers": {"ops": notifier}},
            api={"port": port, "keys": [{"name": "ops-center", "role": "operator", "key_sha256": digest}]},
        )
        async with (
            rules_worker(config, influx_storage),
            gateway() as gw,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": OPERATOR_KEY}, timeout=10
            ) as api,
        ):
            await eventually(lambda: _ready(api), what="the API to be ready")
            await gw.send(rising(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)))
            await eventually(lambda: ("firing", "Siaga") in alerts.story("muka-air"), what="Siaga on MQTT")
            await eventually(lambda: hook.requests, what="a delivery attempt while the webhook is down")

            webhook_up.set()  # the receiver comes back: everything it missed arrives, in order
            await eventually(lambda: len(accepted) == len(alerts.of("muka-air")), what="webhook catch-up")
            bodies = [json.loads(r.body) for r in accepted]
            assert [(b["state"], b["level"]) for b in bodies] == alerts.story("muka-air")
            for request in accepted:
                timestamp = request.headers["x-pantau-timestamp"]
                assert request.headers["x-pantau-signature"] == sign("s3cret", timestamp, request.body)

            active = (await api.get("/api/v1/alerts/active")).json()
            (siaga,) = [a for a in active["alerts"] if a["rule"] == "muka-air"]
            assert (siaga["state"], siaga["level"]) == ("firing", "Siaga")

            note = "tim BPBD menuju lokasi"
            # The operations center's key, used by an officer who names herself: both names are kept.
            acked = await api.post(
                f"/api/v1/alerts/{siaga['alert_id']}/acknowledge", json={"note": note, "by": "Sari (BPBD)"}
            )
            assert acked.status_code == 200, acked.text
            assert (acked.json()["acknowledgement"]["by"], acked.json()["acknowledgement"]["key"]) == (
                "Sari (BPBD)",
                "ops-center",
            )
            await eventually(lambda: alerts.of("muka-air")[-1].acknowledgement, what="the acknowledgement")
            ack = alerts.of("muka-air")[-1].acknowledgement
            assert ack is not None and (ack.by, ack.key, ack.note) == ("Sari (BPBD)", "ops-center", note)

            unknown = await api.post("/api/v1/alerts/no-such-alert/acknowledge", json={})
            assert unknown.status_code == 404
            assert unknown.headers["content-type"].startswith("application/problem+json")

            async def acknowledged_in_history() -> bool:
                found = await influx_storage.query(
                    SeriesQuery(
                        ALERT,
                        ("state", "acknowledged_by", "acknowledged_key"),
                        start=datetime.now(UTC) - timedelta(hours=2),
                        end=datetime.now(UTC) + timedelta(minutes=1),
                        tags={"rule": "muka-air"},
                    )
                )
                stored = {
                    (r.values["acknowledged_by"], r.values["acknowledged_key"]) for s in found for r in s.rows
                }
                return ("Sari (BPBD)", "ops-center") in stored

            await eventually(acknowledged_in_history, what="the acknowledgement in the alert history")


async def _ready(api: httpx.AsyncClient) -> bool:
    try:
        response = await api.get("/api/v1/health/ready")
    except httpx.TransportError:
        return False
    return response.status_code == 200 and response.json()["checks"] == {"storage": "ok", "broker": "ok"}
