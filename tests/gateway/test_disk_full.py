"""A full disk under the outbox is an outage of the outbox, not a crash (issue 16, disk-full-1709): the
gateway keeps publishing what it holds and keeps polling, counts what it cannot store, and stores again by
itself once there is room. The disk fills for real: the outbox sits on a small tmpfs filled to the last byte
(as the fault suite's disk-full scenario does, tests/faults)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import pytest

from gateway.outbox import Outbox
from gateway.runtime import Gateway, RuntimeOptions
from pantau.contract import Readings
from pantau.site.config import load_site
from tests.faults.rig import small_disk
from tests.gateway.conftest import FieldSite, recording
from tests.harness.mosquitto import Mosquitto

HELD = 5


async def test_a_full_disk_counts_the_polls_it_cannot_store_and_recovers_by_itself(
    field_site: FieldSite, mosquitto: Mosquitto, mqtt_topic_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with small_disk(field_site.workdir / "disk", 1024) as mounted:
        if not mounted:
            pytest.skip("a full disk needs a small filesystem of its own: mount -t tmpfs was refused here")
        await _held_published_polls_counted_then_stored(
            field_site, mosquitto, mqtt_topic_root, caplog, field_site.workdir / "disk"
        )


async def _held_published_polls_counted_then_stored(
    field_site: FieldSite,
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    caplog: pytest.LogCaptureFixture,
    disk: Path,
) -> None:
    outbox_path = disk / "outbox.db"
    backlog = Outbox(outbox_path)  # what the gateway holds when its disk fills: it must still go out
    backlog.append([lambda seq: (f"{mqtt_topic_root}/held/{seq}", b"held", False)] * HELD)
    backlog.close()
    site_file = field_site.site_file(mosquitto, prefix=mqtt_topic_root, outbox={"path": str(outbox_path)})
    gateway = Gateway(load_site(site_file), site_file, RuntimeOptions(metrics_address=None))
    fill(disk)  # full before the first poll, and before any Last Will was ever stored
    async with recording(mosquitto, mqtt_topic_root, client_id="rec-disk-full") as recorder:
        task = asyncio.create_task(gateway.run(), name="gateway")
        try:
            # Held messages are published although nothing can be written (no will, no acknowledgement).
            await recorder.wait_for(lambda r: len({t for t, _e in r.invalid if "/held/" in t}) == HELD, 20)
            # Polls go on and are counted as dropped; the gateway is still running.
            await _until(lambda: gateway.outbox.state().unstored_total >= 3, 20)
            assert not task.done()
            state = gateway.outbox.state()
            assert state.dropped_total == state.unstored_total
            assert state.depth == HELD  # their acknowledgements could not be written: kept, sent again later
            assert not [m for _t, m in recorder.received if isinstance(m, Readings)]

            (disk / "ballast").unlink()
            await recorder.wait_for(lambda r: any(isinstance(m, Readings) for _t, m in r.received), 20)
            # The acknowledgements refused while full are written with the next one that succeeds.
            await _until(lambda: not any("/held/" in m.topic for m in gateway.outbox.pending()), 20)
            assert not task.done()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    reopened = Outbox(outbox_path)
    try:
        persisted = reopened.state()
    finally:
        reopened.close()
    assert persisted.unstored_total >= 3  # persisted with the first append after room returned
    assert persisted.dropped_total == persisted.unstored_total
    storing = [r.getMessage() for r in caplog.records if r.name == "gateway.storing"]
    assert len([m for m in storing if " down: " in m]) == 1, storing  # once when it began
    assert len([m for m in storing if " back after " in m]) == 1, storing  # once when it ended


def fill(disk: Path) -> None:
    """Fill the filesystem to the last byte (ENOSPC for the outbox's next write)."""
    ballast = os.open(disk / "ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 512, 1):  # big chunks, then smaller ones
            with contextlib.suppress(OSError):
                while os.write(ballast, b"\0" * size):
                    pass
    finally:
        os.close(ballast)


async def _until(condition: object, timeout: float) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
