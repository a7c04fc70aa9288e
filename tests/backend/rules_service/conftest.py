"""Fixtures of the alert tests: a listener on the test's alert topics (see tests/harness/alerts.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.alerts import AlertListener, listening
from tests.harness.mosquitto import Mosquitto


@pytest.fixture
async def alerts(mosquitto: Mosquitto, mqtt_topic_root: str) -> AsyncIterator[AlertListener]:
    async with listening(mosquitto, mqtt_topic_root) as listener:
        yield listener
