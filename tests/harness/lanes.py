"""The two test lanes, and the guard that keeps a service out of the fast one.

The rule: a test belongs to the fast lane (`make test-fast`, `pytest -m "not services"`) when it starts no
child process and opens no listening socket. Everything else is a `services` test and runs only in the whole
suite (`make test`): Mosquitto, influxd, socat ptys, Chromium, node/ajv, `python -m pantau` and the demo
(child processes), and pymodbus servers, uvicorn, the embedded broker and the recording HTTP fake
(in-process, but listening on loopback). Those need binaries installed, free ports and real-time waits;
what is left (codecs, planners, models, storage on SQLite, engines on an injected clock) needs none of them.
A client connecting to a port nobody listens on is fine: it starts nothing.

Marking is automatic where it can be: tests/conftest.py marks every test that uses a fixture of
`SERVICE_FIXTURES`, directly or through other fixtures. A module or test that starts a service by itself
says `pytestmark = pytest.mark.services` (or `@pytest.mark.services`). `guard()` backs both up: around the
setup and call of every test without the marker (in both lanes, so CI's `make test` catches a missing
marker too), starting a child process or listening on a socket raises `ServiceInFastLane` and fails the test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any, Final

import pytest

from tests.harness.process import ServiceError

#: Fixtures that start a service, by name; a test using any of them (also through other fixtures) is
#: marked `services`. A new fixture that starts one belongs here; a fixture that uses one of these is
#: caught without being listed.
SERVICE_FIXTURES: Final = frozenset(
    {
        # tests/conftest.py: the real services of the harness.
        "mosquitto",
        "influxd",
        "influx_db",
        "pty_pair",
        "modbus_tcp_server",
        "modbus_serial_server",
        # Listening in-process or spawning, defined further down.
        "served_sqlite",  # tests/backend/api/conftest.py: uvicorn on loopback
        "start_demo",  # tests/pantau_demo/conftest.py: `python -m pantau demo`
    }
)

#: Set by `make test-fast`; only changes the message (the guard runs in both lanes).
FAST_LANE_ENV: Final = "PANTAU_FAST_LANE"


class ServiceInFastLane(ServiceError):
    """A test without the `services` marker started a child process or listened on a socket."""


def uses_service_fixture(item: pytest.Item) -> bool:
    """Whether `item` needs a fixture of `SERVICE_FIXTURES`, directly or through other fixtures."""
    return not SERVICE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


@contextlib.contextmanager
def guard(nodeid: str) -> Iterator[list[str]]:
    """While the block runs, starting a child process or listening on a socket raises `ServiceInFastLane`;
    yields the list of what was tried, so the caller can fail the test even if the code under test
    swallowed the exception."""
    tried: list[str] = []
    lane = "the fast lane (`make test-fast`)" if os.environ.get(FAST_LANE_ENV) == "1" else "the fast lane"

    def refuse(what: str) -> ServiceInFastLane:
        tried.append(what)
        return ServiceInFastLane(
            f"{nodeid} is in {lane}, as it has no `services` marker, but it {what}. Use a fixture of "
            "SERVICE_FIXTURES (tests/harness/lanes.py) or mark the test or module `pytest.mark.services`."
        )

    def popen(self: subprocess.Popen[Any], args: Any, *_: Any, **__: Any) -> None:
        raise refuse(f"started a child process {args!r}")

    def listen(self: socket.socket, *_: Any) -> None:
        raise refuse(f"listened on {self.getsockname()!r}")

    def fork() -> int:
        raise refuse("forked")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", popen)
        patch.setattr(socket.socket, "listen", listen)
        patch.setattr(os, "fork", fork)
        yield tried
