"""A virtual serial cable: two linked pseudo-terminals made by socat."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.harness.process import ServiceProcess


class SocatPtyPair(ServiceProcess):
    """`device_end` is where a simulated device listens; `host_end` is what the gateway opens as its port."""

    name = "socat"
    start_timeout = 10.0

    def __init__(self, workdir: Path, binary: str) -> None:
        self.binary = binary
        self.device_end = workdir / "tty-device"
        self.host_end = workdir / "tty-host"
        super().__init__(workdir)

    def command(self) -> Sequence[str]:
        # raw + echo=0: bytes pass untouched, like a real cable; no line discipline rewriting \r\n.
        return [
            self.binary,
            "-d",
            f"pty,raw,echo=0,link={self.device_end}",
            f"pty,raw,echo=0,link={self.host_end}",
        ]

    def ready(self) -> bool:
        return self.device_end.exists() and self.host_end.exists()
