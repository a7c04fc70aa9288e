"""A gauge that answers later than the bus timeout, end to end: nothing it says late is ever published as a
value; the discarded replies show in its device status on MQTT and in the gateway's metrics. With
`retries: 0` and `retries: 1` (as the shipped ampal-mufakat site runs its line), on a merged read and on
single reads of the same shape (where a late reply once became the next request's answer, issue 19)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import yaml

from pantau.contract import DeviceStatus, Quality, Readings
from pantau.profiles.files import PROFILE_DIR
from tests.gateway.conftest import Recorder, recording
from tests.gateway.test_gateway import running
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port
from tests.harness.rtu_slave import ReadRequest, Script, ScriptedRtuSlave, register_reply, registers
from tests.harness.serial_pty import SocatPtyPair

pytestmark = pytest.mark.services

SEN0676 = {3: 2345, 5: 650}  # level 2.345 m, installation height 6.50 m


def late_gauge(r: ReadRequest) -> Script:
    return [(0.45, register_reply(r.unit, r.function, registers(SEN0676, r)))]


def site_file(
    tmp_path: Path, port: Path, broker: Mosquitto, prefix: str, *, retries: int, merged: bool
) -> Path:
    profile = "dfrobot-sen0676"
    if not merged:  # level and installation height in two one-register reads of the same shape
        shipped = (PROFILE_DIR / f"{profile}.yaml").read_text()
        assert "max_gap: 4\n" in shipped
        single = shipped.replace("max_gap: 4\n", "max_gap: 0\n").replace(
            f"id: {profile}\n", "id: sen0676-single\n"
        )
        (tmp_path / "sen0676-single.yaml").write_text(single)
        profile = "sen0676-single.yaml"
    document = {
        "site": "ampal-mufakat",
        "name": "Sungai Ampal — Mufakat (test)",
        "kind": "river_gauge",
        "location": {"lat": -1.2494, "lon": 116.8586},
        "gateway": "gw-test",
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix, "reconnect_cap": "2s"},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "status_interval": "1s",
        "buses": [
            {
                "id": "rs485-1",
                "kind": "modbus",
                "connection": {"transport": "rtu", "port": str(port), "baudrate": 19200},
                "timing": {"timeout": "300ms", "inter_frame_delay": "5ms", "retries": retries},
                "devices": [
                    {"id": "radar", "profile": profile, "unit": 1, "poll_interval": "1s"},
                ],
            }
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize("merged", [True, False], ids=["merged", "single"])
async def test_late_replies_are_never_published_and_are_counted_in_status_and_metrics(
    pty_pair: SocatPtyPair,
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    retries: int,
    merged: bool,
) -> None:
    site = site_file(tmp_path, pty_pair.host_end, mosquitto, mqtt_topic_root, retries=retries, merged=merged)
    metrics_port = free_port()

    def counted(recorder: Recorder) -> bool:
        statuses = [m for _t, m in recorder.received if isinstance(m, DeviceStatus)]
        return any(s.discarded_replies_total >= 2 for s in statuses)

    with ScriptedRtuSlave(pty_pair.device_end, late_gauge) as gauge:
        async with (
            recording(mosquitto, mqtt_topic_root, client_id="rec-late") as recorder,
            running(site, ("127.0.0.1", metrics_port)),
        ):
            await recorder.wait_for(counted, timeout=30)
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    # registers 3..5 in one read (and the probe's level alone), or only one-register reads
    assert max(r.count for r in gauge.requests) == (3 if merged else 1)
    readings = [m for _t, m in recorder.received if isinstance(m, Readings)]
    assert readings
    for message in readings:
        for reading in message.channels.values():
            assert reading.quality is Quality.MISSING, reading  # never a value from another request
    status = [m for _t, m in recorder.received if isinstance(m, DeviceStatus)][-1]
    assert status.state == "failing" and status.reason == "timeout"
    assert "raise the bus timeout" in (status.detail or "")
    found = re.search(r'pantau_device_discarded_replies_total\{bus="rs485-1",device="radar"\} (\d+)', metrics)
    assert found and int(found.group(1)) >= 2, metrics
