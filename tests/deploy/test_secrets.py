"""make-secrets.sh writes the .env and the broker's password file compose needs; a real Mosquitto running
the shipped mosquitto.conf and acl with that password file lets each user do exactly its part."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.deploy.compose import services
from tests.deploy.shipped_broker import SCRIPT, USERS, ShippedMosquitto, make_secrets, passwd_path
from tests.harness.binaries import require_binary
from tests.harness.process import start_with_port_retries

pytestmark = pytest.mark.services  # make-secrets.sh and mosquitto in child processes


@pytest.fixture
def secrets(tmp_path: Path) -> tuple[dict[str, str], str]:
    """Run make-secrets.sh into an empty folder: the .env values and the API key it printed."""
    return make_secrets(tmp_path)


def test_make_secrets_writes_every_variable_and_refuses_to_overwrite(
    secrets: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, key = secrets
    compose_variables = {
        v for service in services().values() for value in service.get("environment", {}).values()
        for v in re.findall(r"\$\{([A-Z0-9_]+)", str(value))
    }  # fmt: skip
    assert compose_variables <= set(env)
    assert env["PANTAU_KEY_OPS_SHA256"] == hashlib.sha256(key.encode()).hexdigest()
    passwords = [v for k, v in env.items() if k.endswith("PASSWORD")]
    assert len(set(passwords)) == len(passwords) and all(len(p) >= 24 for p in passwords)
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0, ".env must be private to its owner"
    passwd = passwd_path(tmp_path).read_text()
    assert sorted(line.split(":")[0] for line in passwd.splitlines()) == sorted(USERS)
    again = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode == 1 and "exists" in again.stderr


@pytest.fixture
def broker(secrets: tuple[dict[str, str], str], tmp_path: Path) -> Iterator[ShippedMosquitto]:
    service = ShippedMosquitto(
        tmp_path / "broker", require_binary("mosquitto", "mosquitto"), passwd_path(tmp_path)
    )
    start_with_port_retries(service)
    yield service
    service.stop()


@contextlib.asynccontextmanager
async def client(broker: ShippedMosquitto, user: str, password: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, username=user, password=password, timeout=10) as c:
        yield c


async def test_each_user_of_the_acl_logs_in_and_does_only_its_part(
    broker: ShippedMosquitto, secrets: tuple[dict[str, str], str]
) -> None:
    env, _ = secrets
    password = {user: env[variable] for user, variable in USERS.items()}
    async with (
        client(broker, "backend", password["backend"]) as backend,
        client(broker, "gw-ampal-mufakat", password["gw-ampal-mufakat"]) as gateway,
    ):
        await backend.subscribe("pantau/v1/#", qos=1)
        # Another site's topic is refused to this gateway; its own goes through, in order after it.
        await gateway.publish("pantau/v1/soekarno-hatta-km13/wim-1/vehicles", b"forged", qos=1)
        await gateway.publish("pantau/v1/ampal-mufakat/wl-radar/readings", b"own", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiomqtt_messages(backend))
        assert (str(message.topic), message.payload) == ("pantau/v1/ampal-mufakat/wl-radar/readings", b"own")

    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, "backend", "not-the-password"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, timeout=10):  # anonymous
            pass


async def aiomqtt_messages(c: aiomqtt.Client) -> AsyncIterator[aiomqtt.Message]:
    async for message in c.messages:
        yield message


async def test_receipts_go_from_the_ingest_user_to_its_sites_gateway_only(
    broker: ShippedMosquitto, secrets: tuple[dict[str, str], str]
) -> None:
    """The backend's ingest user writes receipts for any site; a gateway reads its own site's, not another
    site's, and cannot write one for another site."""
    env, _ = secrets
    password = {user: env[variable] for user, variable in USERS.items()}
    async with (
        client(broker, "backend", password["backend"]) as backend,
        client(broker, "gw-ampal-mufakat", password["gw-ampal-mufakat"]) as ampal,
        client(broker, "gw-sh-km13", password["gw-sh-km13"]) as km13,
    ):
        await ampal.subscribe("pantau/v1/+/receipts", qos=1)
        await km13.subscribe("pantau/v1/+/receipts", qos=1)
        await km13.publish("pantau/v1/ampal-mufakat/receipts", b"forged by km13", qos=1)
        await backend.publish("pantau/v1/soekarno-hatta-km13/receipts", b"for km13", qos=1)
        await backend.publish("pantau/v1/ampal-mufakat/receipts", b"for ampal", qos=1)
        async with asyncio.timeout(10):
            to_ampal = await anext(aiomqtt_messages(ampal))
            to_km13 = await anext(aiomqtt_messages(km13))
        # Each gateway's first receipt is the backend's for its own site: the forgery and the other
        # site's receipt, published before, never reached it.
        assert (str(to_ampal.topic), to_ampal.payload) == ("pantau/v1/ampal-mufakat/receipts", b"for ampal")
        km13_receipts = "pantau/v1/soekarno-hatta-km13/receipts"
        assert (str(to_km13.topic), to_km13.payload) == (km13_receipts, b"for km13")
