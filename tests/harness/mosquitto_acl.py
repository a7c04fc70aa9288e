"""A private Mosquitto that checks a password and an ACL, as the shipped broker does
(backend/deploy/mosquitto/acl): the gateway logs in as its own user and may write only its site's topics,
minus the topics a test tells it to refuse. Anonymous clients (a test's recorder) may read everything.

`refuse()` rewrites the ACL while the broker runs and waits until the broker applies it: Mosquitto rereads
it on SIGHUP, on its next loop turn, so each version allows a probe topic of its own, and a probe publish
that the broker accepts (MQTT v5 PUBACK below 0x80) proves the new rules are in force.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from pantau.mqtt import PubackWaiter
from tests.harness.binaries import require_binary
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import start_with_port_retries

PASSWORD = "gateway-password"  # a test broker's, on loopback


@dataclass
class AclBroker:
    broker: Mosquitto
    user: str
    prefix: str
    site: str
    workdir: Path
    #: Extra broker settings it was started with.
    config: str = ""
    generation: int = 0
    refused: tuple[str, ...] = field(default=())

    @property
    def acl_path(self) -> Path:
        return self.workdir / "acl"

    @property
    def password_file(self) -> Path:
        return self.workdir / "gateway.password"

    def write_acl(self, refused: tuple[str, ...]) -> None:
        self.generation += 1
        self.refused = refused
        lines = [
            "# anonymous: the test's recorder",
            f"topic read {self.prefix}/#",
            "",
            f"user {self.user}",
            f"topic write {self.prefix}/{self.site}/#",
            f"topic read {self.prefix}/{self.site}/receipts",
            f"topic write acl-probe/{self.generation}",
            *(f"topic deny {topic}" for topic in refused),
        ]
        self.acl_path.write_text("\n".join(lines) + "\n")

    async def refuse(self, *topics: str) -> None:
        """From now on the broker refuses the gateway these topics (and only these)."""
        self.write_acl(topics)
        self.broker.reload()
        async with (
            aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                identifier=f"acl-probe-{self.generation}",
                username=self.user,
                password=PASSWORD,
                protocol=aiomqtt.ProtocolVersion.V5,
            ) as client,
            asyncio.timeout(10),
        ):
            acks = PubackWaiter(client)
            while (
                await acks.publish(f"acl-probe/{self.generation}", b"", retain=False, timeout=5)
            ) is not None:
                await asyncio.sleep(0.05)


def start_acl_broker(
    workdir: Path, *, user: str, prefix: str, site: str, refused: tuple[str, ...] = (), config: str = ""
) -> AclBroker:
    """Start a broker that checks `user`'s password and an ACL refusing it `refused`; `config`: more
    settings (later lines win over the harness's)."""
    workdir.mkdir(parents=True, exist_ok=True)
    passwd = workdir / "passwd"
    binary = require_binary("mosquitto", "mosquitto")
    subprocess.run(
        [require_binary("mosquitto_passwd", "mosquitto"), "-b", "-c", str(passwd), user, PASSWORD],
        check=True,
        timeout=30,
    )
    broker = Mosquitto(
        workdir / "broker",
        binary,
        extra_config=f"password_file {passwd}\nacl_file {workdir / 'acl'}\n{config}",
    )
    acl = AclBroker(broker, user, prefix, site, workdir, config)
    acl.password_file.write_text(PASSWORD + "\n")
    acl.write_acl(refused)
    start_with_port_retries(broker)
    return acl
