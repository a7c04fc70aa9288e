"""A service child process with a log file, a readiness check under a deadline, and clean/dirty stops."""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final


class ServiceError(RuntimeError):
    """A service did not start or stop as it should; the message includes the tail of its log."""


#: Where Linux hands out local ports for outgoing connections (net.ipv4.ip_local_port_range).
EPHEMERAL_RANGE_FILE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: How far below the ephemeral range service ports are picked.
_SERVICE_PORT_SPAN: Final = 12_000
_random = random.SystemRandom()  # pytest-randomly reseeds `random` per test: every test would get one port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the service start retries if someone takes it first).

    Picked below the kernel's ephemeral range. A client reconnecting every 0.2 s to a port in that range
    while its service is down (a broker or influxd stopped for an outage test) can be given that very port
    as its own local port, connect to itself (TCP simultaneous open), and keep the port: the service then
    cannot listen there again. Outside the range that cannot happen.
    """
    low = _ephemeral_low()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = _random.randrange(max(1024, low - _SERVICE_PORT_SPAN), low)
        with socket.socket(family) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(family) as sock:  # an unusually crowded machine: any free port will do
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `check` until it returns True or `timeout` seconds pass; returns whether it succeeded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


class ServiceProcess:
    """Base for services: subclasses write their config in `prepare()` and say when they are `ready()`."""

    name = "service"
    start_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.pick_ports()

    # Subclass hooks.
    def pick_ports(self) -> None:
        """Choose free loopback ports. Kept across restarts, so clients reconnect to the same address."""

    def prepare(self) -> None:
        """Write config files; called before every start."""

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    # Lifecycle.
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServiceError(f"{self.name} is not running")
        return self._process.pid

    def start(self) -> None:
        self.prepare()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                list(self.command()), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        if not wait_until(lambda: not self.running or self.ready(), self.start_timeout) or not self.running:
            self.kill()
            raise ServiceError(
                f"{self.name} did not become ready in {self.start_timeout:.0f} s:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(self.stop_timeout)
        self._process = None

    def kill(self) -> None:
        """SIGKILL: the crash a fault test wants."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        self._process.wait(self.stop_timeout)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def start_with_port_retries(service: ServiceProcess, attempts: int = 3) -> None:
    """Start a service; when another process grabbed one of its ports meanwhile, pick new ones and retry."""
    for attempt in range(1, attempts + 1):
        try:
            service.start()
        except ServiceError:
            if attempt == attempts:
                raise
            service.pick_ports()
        else:
            return
