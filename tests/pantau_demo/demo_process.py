"""`pantau demo` as a child process, as a user runs it, and the fixture that starts it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.process import free_port, wait_until

#: The issue's promise: readings, vehicles and an alert within two minutes of starting.
WITHIN_S = 120.0
STOP_WITHIN_S = 30.0


class DemoProcess:
    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.log = workdir / "demo.log"
        env = {**os.environ, "TMPDIR": str(workdir)}  # the default working folder lands where we can see it
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pantau", "demo", "--port", str(self.port), "--mqtt-port", "0", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                start_new_session=True,  # its own process group: we can tell whether anything is left
            )
        self.api = f"http://127.0.0.1:{self.port}/api/v1"

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.api + path, params=params, timeout=5.0)
        response.raise_for_status()
        return response.json()

    def wait_for(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        def ok() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the demo exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return check()
            return False

        if not wait_until(ok, max(deadline - time.monotonic(), 0.0), interval=1.0):
            pytest.fail(f"no {what} within {WITHIN_S:.0f} s:\n{self.tail()}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code once it has stopped."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo did not stop within {STOP_WITHIN_S:.0f} s of Ctrl-C:\n{self.tail()}")

    def nothing_left(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
