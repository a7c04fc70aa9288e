"""A virtual serial cable from Python's own pty module: two pseudo-terminals whose bytes are copied across.

A simulated device opens one end, the gateway (or `pantau modbus read --port ...`) opens the other, exactly
as with a USB RS-485 adapter. No socat needed, so `make demo` runs on a bare machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from types import TracebackType
from typing import Self


class VirtualCable:
    """`device_end` and `host_end` are paths of two linked ttys, valid while the cable is open."""

    def __init__(self, link: Path | None = None) -> None:
        self._link = link
        self._fds: list[int] = []
        self.device_end = Path()
        self.host_end = Path()

    async def __aenter__(self) -> Self:
        device_master, device_slave = os.openpty()
        host_master, host_slave = os.openpty()
        self._fds = [device_master, device_slave, host_master, host_slave]
        for fd in (device_slave, host_slave):
            tty.setraw(fd)  # no line discipline: bytes pass untouched, like a real cable
        self.device_end = Path(os.ttyname(device_slave))
        self.host_end = Path(os.ttyname(host_slave))
        loop = asyncio.get_running_loop()
        for source, target in ((device_master, host_master), (host_master, device_master)):
            os.set_blocking(source, False)
            loop.add_reader(source, _copy, source, target)
        if self._link is not None:
            self._link.unlink(missing_ok=True)
            self._link.symlink_to(self.host_end)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._fds[0], self._fds[2]:
            loop.remove_reader(fd)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._link is not None:
            self._link.unlink(missing_ok=True)


def _copy(source: int, target: int) -> None:
    try:
        data = os.read(source, 4096)
    except BlockingIOError:
        return
    except OSError:
        return  # the other side closed its end; the next open re-establishes the flow
    if data:
        with contextlib.suppress(OSError):
            os.write(target, data)
