"""`pantau records read` as a technician runs it: a child process reading a real TCP socket or a socat pty
pair (a virtual RS-232 cable), printing vehicles and the frames it refuses with the failing field."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial

from pantau.profiles.records.profile import RecordProfile
from tests.drivers.serial_records.test_parser import CSV_BODY, csv_frame
from tests.harness.process import wait_until
from tests.harness.serial_pty import SocatPtyPair

pytestmark = pytest.mark.services  # a child process and a listening socket

PANTAU = [sys.executable, "-m", "pantau"]
DEADLINE = 30.0


def frames(profile: RecordProfile) -> tuple[bytes, bytes]:
    """A good generic-wim-csv record and one whose GVW has a letter O for a zero (checksum valid)."""
    good = csv_frame(profile, CSV_BODY) + b"\r\n"
    bad = csv_frame(profile, CSV_BODY.replace(",31640,", ",3164O,")) + b"\r\n"
    return good, bad


@contextlib.asynccontextmanager
async def controller(data: bytes) -> AsyncIterator[int]:
    """A WIM controller behind a serial device server: sends `data` to whoever connects."""
    done = asyncio.Event()

    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await done.wait()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def records_read(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *PANTAU, "records", "read", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    async with asyncio.timeout(DEADLINE):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_over_tcp_vehicles_and_rejects_with_the_failing_field_as_json(
    wim_profile: RecordProfile,
) -> None:
    good, bad = frames(wim_profile)
    async with controller(good + bad + b"\x00\xff\r\n" + good) as port:
        code, out, err = await records_read(
            "--host",
            "127.0.0.1",
            "--tcp-port",
            str(port),
            "--profile",
            "generic-wim-csv",
            "--count",
            "4",
            "--json",
        )
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["kind"] for line in lines] == ["vehicle", "reject", "reject", "vehicle", "summary"], err
    vehicle, gvw, noise, _again, summary = lines
    assert (vehicle["record_id"], vehicle["gvw_kg"], len(vehicle["axles"])) == ("412", 31640.0, 3)
    assert (gvw["reason"], gvw["field"]) == ("bad_field", "gvw")
    assert gvw["problem"] == "gvw: '3164O' is not a number"
    assert gvw["excerpt"].startswith("412,2026-11-28 14:04:17.25,1,1,42.5,6B,3164O,")
    assert (noise["reason"], noise["excerpt"]) == ("checksum", "\\x00\\xff")
    assert summary["vehicles"] == 2 and summary["rejects"] == {"bad_field": 1, "checksum": 1}
    assert code == 1  # something was refused: the profile does not fit every frame


async def test_over_a_serial_pty_vehicles_and_rejects_in_plain_text(
    pty_pair: SocatPtyPair, wim_profile: RecordProfile
) -> None:
    good, bad = frames(wim_profile)
    process = await asyncio.create_subprocess_exec(
        *PANTAU,
        "records",
        "read",
        "--port",
        str(pty_pair.host_end),
        "--profile",
        "generic-wim-csv",
        "--count",
        "3",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # The port's input is flushed when it is opened: write only once the command holds it.
    opened = await asyncio.to_thread(wait_until, lambda: holds(process.pid, pty_pair.host_end), DEADLINE)
    assert opened, "pantau records read did not open the port"
    with serial.Serial(str(pty_pair.device_end), baudrate=9600) as device:
        device.write(good + bad + good)
        device.flush()
        async with asyncio.timeout(DEADLINE):
            out, _err = await process.communicate()
    text = out.decode()
    assert (
        text.count("vehicle 412  2026-11-28T06:04:17.250000Z  lane 1  42.5 km/h  class 6B  GVW 31640 kg") == 2
    )
    assert "REJECT bad_field [gvw]: gvw: '3164O' is not a number" in text
    assert text.rstrip().endswith(
        f"2 vehicles, 1 rejected (1 bad_field); {len(good + bad + good)} bytes, 0 skipped"
    )
    assert process.returncode == 1


async def test_a_clean_stream_exits_zero(wim_profile: RecordProfile) -> None:
    good, _bad = frames(wim_profile)
    async with controller(good * 2) as port:
        code, out, _err = await records_read(
            "--host", "127.0.0.1", "--tcp-port", str(port), "--profile", "generic-wim-csv", "--count", "2"
        )
    assert out.rstrip().endswith(f"2 vehicles, 0 rejected; {2 * len(good)} bytes, 0 skipped")
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "generic-wim-csv", "--count", "1"], "give exactly one of --port (serial) or --host"),
        (["--host", "127.0.0.1", "--profile", "vegapuls-c21", "--count", "1"], "not a record profile"),
        (["--host", "127.0.0.1", "--profile", "generic-wim-csv"], "give --count or --duration"),
        (["--host", "127.0.0.1", "--profile", "no-such", "--count", "1"], "no such profile"),
    ],
)
async def test_usage_errors_say_what_to_give(args: list[str], message: str) -> None:
    code, _out, err = await records_read(*args)
    assert code == 2
    assert message in err


async def test_a_link_that_never_opens_says_so_within_the_duration() -> None:
    code, out, _err = await records_read(
        "--host", "127.0.0.1", "--tcp-port", "1", "--profile", "generic-wim-csv", "--duration", "1s"
    )
    assert code == 1
    assert "0 vehicles, 0 rejected; 0 bytes, 0 skipped; never connected: cannot open 127.0.0.1:1" in out


def holds(pid: int, path: Path) -> bool:
    """Whether process `pid` has the pty behind `path` open."""
    target = os.path.realpath(path)
    with contextlib.suppress(OSError):
        return any(os.path.realpath(fd) == target for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False
