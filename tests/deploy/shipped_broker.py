"""Mosquitto on the shipped config (backend/deploy/mosquitto) with a password file of make-secrets.sh:
only the container paths and the listener are moved to loopback, so what a test proves holds for the
broker docker-compose.yml runs."""

from __future__ import annotations

import getpass
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tests.deploy.compose import DEPLOY, REPO
from tests.harness.binaries import require_binary
from tests.harness.process import ServiceProcess, free_port, port_open

SCRIPT: Final = DEPLOY / "make-secrets.sh"
#: Mosquitto user -> the .env variable holding its password. The backend's three MQTT sessions (ingest,
#: rules, alert publisher) are three users sharing one password: the broker binds a client id to its user.
USERS: Final = {
    "backend": "PANTAU_MQTT_BACKEND_PASSWORD",
    "backend-rules": "PANTAU_MQTT_BACKEND_PASSWORD",
    "backend-alerts": "PANTAU_MQTT_BACKEND_PASSWORD",
    "gw-ampal-mufakat": "PANTAU_MQTT_GW_AMPAL_PASSWORD",
    "gw-sh-km13": "PANTAU_MQTT_GW_KM13_PASSWORD",
    "viewer": "PANTAU_MQTT_VIEWER_PASSWORD",
}


class ShippedMosquitto(ServiceProcess):
    """Mosquitto on the shipped config; only the container paths and the listener are moved to loopback."""

    name = "mosquitto"

    def __init__(self, workdir: Path, binary: str, passwd: Path) -> None:
        self.binary, self.passwd, self.host = binary, passwd, "127.0.0.1"
        super().__init__(workdir)

    def pick_ports(self) -> None:
        self.port = free_port(self.host)

    def prepare(self) -> None:
        conf = (REPO / "backend/deploy/mosquitto/mosquitto.conf").read_text()
        conf = re.sub(r"(?m)^listener 1883$", f"listener {self.port} {self.host}", conf)
        conf = conf.replace("/mosquitto/config/passwd", str(self.passwd))
        conf = conf.replace("/mosquitto/config/acl", str(REPO / "backend/deploy/mosquitto/acl"))
        conf = conf.replace("/mosquitto/data/", f"{self.workdir}/")
        # Started as root (CI), Mosquitto would switch to the `mosquitto` user, who cannot read pytest's
        # private temporary folders: it stays the user running the tests (in its container: uid 1883).
        conf += f"\nuser {getpass.getuser()}\n"
        (self.workdir / "mosquitto.conf").write_text(conf)

    def command(self) -> Sequence[str]:
        return [self.binary, "-c", str(self.workdir / "mosquitto.conf")]

    def ready(self) -> bool:
        return port_open(self.host, self.port)


def make_secrets(target: Path) -> tuple[dict[str, str], str]:
    """Run make-secrets.sh into an empty folder: the .env values and the API key it printed."""
    require_binary("mosquitto_passwd", "mosquitto")
    result = subprocess.run(
        ["bash", str(SCRIPT), str(target)], capture_output=True, text=True, timeout=60, check=True
    )
    (key,) = re.findall(r"shown once: (\S+)", result.stdout)
    env = dict(line.split("=", 1) for line in (target / ".env").read_text().splitlines())
    return env, key


def passwd_path(target: Path) -> Path:
    """Where make-secrets.sh wrote the broker's password file under `target`."""
    return target / "backend/deploy/compose/secrets/mosquitto.passwd"
