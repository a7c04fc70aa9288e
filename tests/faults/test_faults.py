"""Seeded faults against the whole chain, real processes throughout; afterwards every reading the devices
served is stored once, apart from the counted drops of a full outbox (tests/faults/ledger.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.faults.ledger import Count, Evidence, reckon
from tests.faults.rig import Rig, assembled, small_disk
from tests.faults.scenarios import ACTIVE_S, FAMILIES, LONG, Event, selected
from tests.harness.influxd import Influxd

pytestmark = [pytest.mark.services, pytest.mark.timeout(600 if LONG else 90)]
#: How long the chain may take after the last fault to deliver what it holds (the back-off caps are 1 s).
SETTLE_S = 60.0 if LONG else 20.0
DISK_KB = 2048


async def play(rig: Rig, events: list[Event]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for event in events:
        await asyncio.sleep(max(0.0, start + event.at - loop.time()))
        await asyncio.to_thread(rig.revive_gateway)
        await asyncio.to_thread(event.action, rig)
    await asyncio.sleep(max(0.0, start + ACTIVE_S - loop.time()))
    await asyncio.to_thread(rig.heal_all)


async def settle(rig: Rig) -> dict[str, list[tuple[int, int | None]]]:
    """The devices fall silent (what they served is final); then wait until all of it is stored, or until
    nothing is queued and nothing new is stored for a while."""
    for device in rig.devices.values():
        device.faults.no_reply = True
    await asyncio.sleep(0.3)  # a reply already on the wire reaches the gateway's outbox
    deadline = time.monotonic() + SETTLE_S
    idle, previous = 0, None
    while True:
        await asyncio.to_thread(rig.revive_gateway)
        stored = await rig.stored()
        have = {name: {v for _t, v in rows} for name, rows in stored.items()}
        depth, _dropped = rig.outbox_state()
        # Everything stored and nothing left queued that could still arrive twice.
        if depth == 0 and all(set(d.values()) <= have.get(n, set()) for n, d in rig.devices.items()):
            return stored
        sizes = {name: len(rows) for name, rows in stored.items()}
        idle = idle + 1 if depth == 0 and sizes == previous else 0
        previous = sizes
        if idle >= 4 or time.monotonic() > deadline:  # 2 s with nothing queued and nothing newly stored
            return stored
        await asyncio.sleep(0.5)


def cases() -> list[object]:
    """Every selected (family, seed); a family with a known loss is xfail(strict): it must keep failing."""
    return [
        pytest.param(
            family,
            seed,
            id=f"{family}-{seed}",
            marks=[pytest.mark.xfail(strict=True, reason=known)] if (known := FAMILIES[family].known) else [],
        )
        for family, seed in selected()
    ]


@pytest.mark.parametrize(("family", "seed"), cases())
async def test_faults(
    family: str,
    seed: int,
    tmp_path: Path,
    fault_influxd: Influxd,
    fault_database: str,
    ledger: list[Count],
) -> None:
    scenario = FAMILIES[family]
    events = scenario.events(seed)
    disk = small_disk(tmp_path / "disk", DISK_KB) if scenario.disk else contextlib.nullcontext(False)
    with disk as mounted:
        if scenario.disk and not mounted:
            pytest.skip("disk full needs a small filesystem of its own: mount -t tmpfs was refused here")
        began = time.monotonic()
        async with assembled(
            tmp_path,
            f"faults/{family}-{seed}",
            storage=scenario.storage,
            influxd=fault_influxd,
            database=fault_database,
            persistence=scenario.persistence,
            autosave_s=scenario.autosave_s,
            outbox_dir=tmp_path / "disk" if scenario.disk else None,
        ) as rig:
            ready = time.monotonic()
            await play(rig, events)
            played = time.monotonic()
            stored = await settle(rig)
            settled = time.monotonic()
            counts = rig.outbox_counts()
            evidence = Evidence(
                served={name: device.served for name, device in rig.devices.items()},
                stored=stored,
                dropped_counted=counts.dropped_total,
                gateway_kills=rig.gateway_kills,
                quota_dropped=rig.quota_dropped,
                disk_full=rig.disk_full,
                unstored_counted=counts.unstored_total,
                gateway_exits=rig.gateway_exits,
                garbled=sum(len(device.garbled) for device in rig.devices.values()),
                connections=rig.proxy.connections_total,
            )
            count = reckon(evidence, family, seed)
        ended = time.monotonic()
    count.timing = (
        f"start {ready - began:.1f} s, faults {played - ready:.1f} s, settle {settled - played:.1f} s,"
        f" stop {ended - settled:.1f} s"
    )
    count.known = scenario.known is not None
    count.faults = "; ".join(f"{e.at:.2f} s {e.label}" for e in events)
    ledger.append(count)
    assert count.ok, count.explain()
    if scenario.proof is not None:
        what, shown = scenario.proof
        assert shown(count), f"{count.explain()}: not shown that {what}, so the scenario proves nothing"
