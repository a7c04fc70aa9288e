"""Fixtures of the demo tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pantau_demo.demo_process import DemoProcess


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., DemoProcess]]:
    started: list[DemoProcess] = []

    def start(*args: str) -> DemoProcess:
        demo = DemoProcess(tmp_path, *args)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.kill()
