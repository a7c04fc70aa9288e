"""The fast lane's guard refuses child processes and listening sockets, and is in force around every test
without the `services` marker (this module's tests have none)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from tests.harness.lanes import ServiceInFastLane, guard, uses_service_fixture

# Taken at import, i.e. at collection, outside any guard.
REAL_POPEN_INIT = subprocess.Popen.__init__
REAL_LISTEN = socket.socket.listen
REAL_FORK = os.fork


def test_this_unmarked_test_runs_under_the_guard() -> None:
    assert subprocess.Popen.__init__ is not REAL_POPEN_INIT
    assert socket.socket.listen is not REAL_LISTEN
    assert os.fork is not REAL_FORK


def test_the_guard_refuses_a_child_process_and_names_it() -> None:
    with guard("t::x") as tried, pytest.raises(ServiceInFastLane, match=r"t::x .*'mosquitto'"):
        subprocess.Popen(["mosquitto", "-c", "x.conf"])
    assert tried == ["started a child process ['mosquitto', '-c', 'x.conf']"]


async def test_the_guard_refuses_an_asyncio_child_process() -> None:
    with guard("t::x") as tried, pytest.raises(ServiceInFastLane):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    assert len(tried) == 1


def test_the_guard_refuses_listening_but_not_binding() -> None:
    with guard("t::x") as tried, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # what free_port does: no service
        with pytest.raises(ServiceInFastLane, match="listened on"):
            sock.listen()
    assert len(tried) == 1


def test_a_test_using_a_service_fixture_through_others_is_a_services_test() -> None:
    def item(*names: str) -> Any:
        return SimpleNamespace(fixturenames=list(names))

    # `fixturenames` is the closure: `alerts` -> `mosquitto` is listed as well.
    assert uses_service_fixture(item("tmp_path", "alerts", "mosquitto", "mqtt_topic_root"))
    assert uses_service_fixture(item("rig", "modbus_tcp_server"))
    assert not uses_service_fixture(item("tmp_path", "sqlite_storage"))
