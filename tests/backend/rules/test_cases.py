"""Data-driven rule cases: cases/<name>.yaml hold rules and a timeline of messages and clock ticks, with
the alert transitions each step must produce (and nothing else).

A step: `at` (offset from T0), then one of
  `value: 1.2`                          a reading of wl-radar/level (shorthand)
  `read: {device, channels: {ch: value | {quality, reason}}}`
  `tick: true`                          the clock alone
  `gateway: online | offline`           a GatewayStatus
  `device_status: {device, state}`      a DeviceStatus
and `expect: ["firing Siaga II", "rule-id: resolved"]` (state, then level; prefix the rule id when a case has
several rules), `qc: {channel: [flag, reason]}` for the QC verdicts of a reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pantau.contract import AlertTransition, DeviceStatus, GatewayStatus, Reading

from .helpers import SITE, at, engine, readings

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _reading(spec: Any) -> Reading:
    if isinstance(spec, dict):
        return Reading(**spec)
    return Reading(value=float(spec), unit="m")


def _describe(transition: AlertTransition, *, with_rule: bool) -> str:
    text = f"{transition.state} {transition.level or ''}".strip()
    return f"{transition.rule}: {text}" if with_rule else text


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    eng = engine(*case["rules"])
    with_rule = len(case["rules"]) > 1
    for number, step in enumerate(case["steps"]):
        now = at(step["at"])
        qc = None
        if "value" in step:
            evaluation = eng.on_readings(readings(now, level=step["value"]), now)
            transitions, qc = evaluation.transitions, evaluation.qc
        elif "read" in step:
            read = step["read"]
            channels = {ch: _reading(v) for ch, v in read["channels"].items()}
            evaluation = eng.on_readings(
                readings(now, device=read.get("device", "wl-radar"), **channels), now
            )
            transitions, qc = evaluation.transitions, evaluation.qc
        elif "gateway" in step:
            status = GatewayStatus(site=SITE, gateway="gw-test", seq=number, ts=now, state=step["gateway"])
            transitions = eng.on_gateway_status(status, now)
        elif "device_status" in step:
            spec = step["device_status"]
            status_msg = DeviceStatus(
                site=SITE,
                gateway="gw-test",
                seq=number,
                ts=now,
                device=spec["device"],
                state=spec["state"],
                since=now,
            )
            transitions = eng.on_device_status(status_msg, now)
        else:
            assert step.get("tick"), f"step {number}: nothing to do"
            transitions = eng.tick(now)
        got = [_describe(t, with_rule=with_rule) for t in transitions]
        assert got == step.get("expect", []), f"{path.name} step {number} at {step['at']}"
        for channel, (flag, reason) in (step.get("qc") or {}).items():
            assert qc is not None
            assert (qc[channel].flag, qc[channel].reason) == (flag, reason), f"step {number} {channel}"
