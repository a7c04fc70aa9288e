"""A scripted Modbus RTU slave on the device end of a socat pty: it answers late, twice, or wrongly on cue.

Simple device firmware works like this: one request at a time, a reply whenever it is done, whether the
master still waits or not. The test gives a `respond` function that turns each request frame into what
the slave sends back (delays and frames); while it sleeps, further requests wait in the port's buffer, as
they would in a real UART. Frames are built with pymodbus' RTU framer CRC, not pantau's, so a mistake in
pantau's codec cannot hide in both ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import serial
from pymodbus.framer import FramerRTU

#: What the slave sends for one request: (seconds to wait first, bytes), in order.
Script = list[tuple[float, bytes]]
REQUEST_BYTES = 8


def frame(body: bytes) -> bytes:
    """`body` with its Modbus CRC, computed by pymodbus."""
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


def register_reply(unit: int, function: int, words: list[int]) -> bytes:
    data = b"".join(w.to_bytes(2, "big") for w in words)
    return frame(bytes([unit, function, len(data)]) + data)


def exception_reply(unit: int, function: int, code: int) -> bytes:
    return frame(bytes([unit, function | 0x80, code]))


@dataclass(frozen=True)
class ReadRequest:
    unit: int
    function: int
    address: int
    count: int

    @classmethod
    def parse(cls, raw: bytes) -> ReadRequest:
        assert FramerRTU.check_CRC(raw[:-2], int.from_bytes(raw[-2:], "big")), f"bad request CRC {raw.hex()}"
        return cls(raw[0], raw[1], int.from_bytes(raw[2:4], "big"), int.from_bytes(raw[4:6], "big"))


def registers(table: Mapping[int, int], request: ReadRequest) -> list[int]:
    """The request's registers from `table` (unmapped ones read 0)."""
    return [table.get(a, 0) for a in range(request.address, request.address + request.count)]


@dataclass
class ScriptedRtuSlave:
    port: Path
    respond: Callable[[ReadRequest], Script]
    baudrate: int = 19200
    requests: list[ReadRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._serial = serial.Serial(str(self.port), self.baudrate, timeout=0.01)
        self._thread = threading.Thread(target=self._run, name="rtu-slave", daemon=True)

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            buffer += self._serial.read(64)
            while len(buffer) >= REQUEST_BYTES:
                request = ReadRequest.parse(buffer[:REQUEST_BYTES])
                buffer = buffer[REQUEST_BYTES:]
                self.requests.append(request)
                for delay, data in self.respond(request):
                    if self._stop.wait(delay):
                        return
                    self._serial.write(data)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._serial.close()
