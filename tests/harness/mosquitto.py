"""A private Mosquitto broker on a free loopback port (MQTT 3.1.1 and 5, shared subscriptions)."""

from __future__ import annotations

import getpass
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from tests.harness.process import ServiceProcess, free_port, port_open


class Mosquitto(ServiceProcess):
    name = "mosquitto"

    def __init__(
        self, workdir: Path, binary: str, *, persistence: bool = False, extra_config: str = ""
    ) -> None:
        self.binary = binary
        self.host = "127.0.0.1"
        self.persistence = persistence
        self.extra_config = extra_config
        super().__init__(workdir)

    def pick_ports(self) -> None:
        self.port = free_port(self.host)

    @property
    def events_path(self) -> Path:
        return self.workdir / "events.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def prepare(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            # Started as root, mosquitto drops to user `mosquitto`, which cannot write the persistence file
            # into a test's private folder ("Error: Permission denied" at exit): sessions were never saved.
            f"user {getpass.getuser()}",
            "log_dest stdout",
            # stdout into a file is block-buffered: this file is written line by line, for tests to read
            # while the broker runs (who connected, with which protocol).
            f"log_dest file {self.events_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            # Tests publish bursts; the broker default of 1000 queued QoS>0 messages would silently drop some.
            "max_queued_messages 0",
            "max_inflight_messages 0",
            self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self) -> Sequence[str]:
        return [self.binary, "-c", str(self.config_path)]

    def ready(self) -> bool:
        return port_open(self.host, self.port)

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files and applies them to connected clients too.
        It does so on its next loop turn: a test confirms the new rules took effect before relying on them."""
        os.kill(self.pid, signal.SIGHUP)
