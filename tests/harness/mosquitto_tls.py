"""A private Mosquitto with a TLS listener, and the certificates it needs, made at test time with the
`openssl` command (the `cryptography` package is not a dependency of pantau).

`Pki` is a throwaway certificate authority in a test's folder: a server certificate for `localhost` (and
nothing else, so connecting to 127.0.0.1 is a hostname mismatch) and client certificates whose common name
is a gateway's user. `TlsMosquitto` is the shipped broker config (backend/deploy/mosquitto/mosquitto.conf)
with its commented TLS listener block switched on: the plain listener (the backend's) and the TLS listener
(the gateways'), both on loopback, the shipped password file and ACL rules as the test gives them. With
`client_certificates` the TLS listener requires a certificate and makes its common name the user, as the
shipped block describes; without, it authenticates with passwords over TLS.
"""

from __future__ import annotations

import getpass
import re
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.harness.binaries import require_binary
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import ServiceProcess, free_port, port_open

REPO: Final = Path(__file__).resolve().parents[2]
SHIPPED_CONF: Final = REPO / "backend/deploy/mosquitto/mosquitto.conf"
#: The name the server certificate is issued for; clients connect to it, not to 127.0.0.1.
SERVER_NAME: Final = "localhost"
_DAYS: Final = "2"


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


class Pki:
    """A certificate authority of its own in `folder` (EC P-256 keys, two days of validity)."""

    def __init__(self, folder: Path, name: str = "pantau test CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._openssl = require_binary("openssl", "openssl")
        self.ca = KeyPair(folder / "ca.crt", folder / "ca.key")
        self._run(
            "req", "-x509", "-new", *self._new_key(self.ca.key), "-out", str(self.ca.cert),
            "-days", _DAYS, "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def server(self, name: str = SERVER_NAME) -> KeyPair:
        """A server certificate valid for the DNS name `name` only."""
        return self._issue(name, f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")

    def client(self, common_name: str) -> KeyPair:
        """A client certificate; with use_identity_as_username its common name is the MQTT user."""
        return self._issue(common_name, "extendedKeyUsage=clientAuth\n")

    def _issue(self, common_name: str, extensions: str) -> KeyPair:
        stem = self.folder / re.sub(r"[^A-Za-z0-9_.-]", "_", common_name)
        pair = KeyPair(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        csr, ext = stem.with_suffix(".csr"), stem.with_suffix(".ext")
        ext.write_text(extensions)
        self._run("req", "-new", *self._new_key(pair.key), "-out", str(csr), "-subj", f"/CN={common_name}")
        self._run(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca.cert), "-CAkey", str(self.ca.key),
            "-set_serial", str(secrets.randbits(63)), "-days", _DAYS, "-extfile", str(ext),
            "-out", str(pair.cert),
        )  # fmt: skip
        return pair

    @staticmethod
    def _new_key(path: Path) -> tuple[str, ...]:
        return ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(path))

    def _run(self, *args: str) -> None:
        subprocess.run([self._openssl, *args], check=True, capture_output=True, timeout=30, cwd=self.folder)


def shipped_tls_block() -> list[str]:
    """The shipped config's commented TLS listener block, uncommented (the lines after the comment that
    introduces it, up to the first blank line)."""
    lines = SHIPPED_CONF.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# TLS listener"))
    block: list[str] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if line.startswith("#") and not line.startswith("# "):
            block.append(line[1:])
    return block


class TlsMosquitto(Mosquitto):
    """A plain listener (`port`) and the shipped TLS listener block (`tls_port`), on loopback. With `passwd`
    and `acl` (a password file and an ACL), the whole shipped mosquitto.conf, only its paths and listeners
    moved; without, the harness's anonymous test broker with that block added."""

    def __init__(
        self,
        workdir: Path,
        pki: Pki,
        *,
        passwd: Path | None = None,
        acl: Path | None = None,
        client_certificates: bool = False,
    ) -> None:
        self.pki = pki
        self.server = pki.server()
        self.passwd, self.acl = passwd, acl
        self.client_certificates = client_certificates
        super().__init__(workdir, require_binary("mosquitto", "mosquitto"))

    def pick_ports(self) -> None:
        super().pick_ports()
        self.tls_port = free_port(self.host)
        while self.tls_port == self.port:
            self.tls_port = free_port(self.host)

    def tls_listener(self) -> list[str]:
        paths = {
            "/mosquitto/config/certs/ca.crt": self.pki.ca.cert,
            "/mosquitto/config/certs/server.crt": self.server.cert,
            "/mosquitto/config/certs/server.key": self.server.key,
        }
        block = []
        for shipped_line in shipped_tls_block():
            line = shipped_line
            if line.startswith("listener "):
                line = f"listener {self.tls_port} {self.host}"
            for shipped, path in paths.items():
                line = line.replace(shipped, str(path))
            setting = line.split()[0]
            if not self.client_certificates and setting in _CLIENT_CERTIFICATE_SETTINGS:
                continue
            if self.passwd is None and setting == "use_username_as_clientid":
                continue  # it refuses a client without a user name: all of them, on an anonymous broker
            block.append(line)
        return block

    def prepare(self) -> None:
        if self.passwd is None or self.acl is None:  # anonymous: the harness's broker plus the TLS block
            self.extra_config = "\n".join(["per_listener_settings false", *self.tls_listener()])
            super().prepare()
            return
        # The whole shipped file, its TLS block switched on; only paths and listeners moved to loopback.
        commented_block = [f"#{line}" for line in shipped_tls_block()]
        lines: list[str] = []
        for line in SHIPPED_CONF.read_text().splitlines():
            if line == "listener 1883":
                lines.append(f"listener {self.port} {self.host}")
            elif line == commented_block[0]:
                lines += self.tls_listener()
            elif line in commented_block:
                continue
            else:
                lines.append(
                    line.replace("/mosquitto/config/passwd", str(self.passwd))
                    .replace("/mosquitto/config/acl", str(self.acl))
                    .replace("/mosquitto/data/", f"{self.workdir}/")
                )
        # Started as root, Mosquitto would switch to the `mosquitto` user, who cannot read a test's folder.
        lines += [f"user {getpass.getuser()}", f"log_dest file {self.events_path}"]
        self.config_path.write_text("\n".join(lines) + "\n")

    def ready(self) -> bool:
        return port_open(self.host, self.port) and port_open(self.host, self.tls_port)


#: The shipped block's lines that belong to per-gateway certificates, left out for a password listener.
_CLIENT_CERTIFICATE_SETTINGS: Final = frozenset({"cafile", "require_certificate", "use_identity_as_username"})


class TlsTerminator(ServiceProcess):
    """A TLS-terminating proxy in front of a broker's plain listener (socat, as stunnel or a load balancer
    would sit in a deployment). It forwards what it reads from the broker in chunks of up to 8 KiB, each
    one TLS record: unlike Mosquitto, which writes a record per MQTT packet, it packs many small packets
    into one record, the case where decrypted bytes wait in the client's SSL object while its socket has
    nothing to read."""

    name = "socat-tls"

    def __init__(self, workdir: Path, server: KeyPair, broker: Mosquitto, *, options: str = "") -> None:
        """`options`: more of socat's openssl-listen options (e.g. `max-version=TLS1.1`)."""
        self.server, self.broker, self.options = server, broker, options
        self.host = broker.host
        super().__init__(workdir)

    def pick_ports(self) -> None:
        self.port = free_port(self.host)

    def command(self) -> Sequence[str]:
        listen = (
            f"openssl-listen:{self.port},bind={self.host},reuseaddr,fork,"
            f"cert={self.server.cert},key={self.server.key},verify=0"
            + (f",{self.options}" if self.options else "")
        )
        return [require_binary("socat", "socat"), listen, f"tcp:{self.broker.host}:{self.broker.port}"]

    def ready(self) -> bool:
        return port_open(self.host, self.port)
