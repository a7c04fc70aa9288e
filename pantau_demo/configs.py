"""The demo's configuration files, written into its working folder from the field files.

The demo runs the shipped Balikpapan sites (firmware_configs/sites) and rules (firmware_configs/rules)
with only what a bench setup changes: links point at the simulators, the broker is local, polls are fast,
and the rules' timers follow rules-overlay.yaml. Everything goes through the same loaders as in the field
(`load_site`, `load_rules`, `load_backend_config`), so the files in the working folder are ones a
technician could run by hand: `pantau gateway run --config sites/ampal-mufakat.yaml`.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import yaml

from backend.config import BackendConfig, load_backend_config
from backend.rules.config import load_rules
from pantau.config import ConfigError
from pantau.profiles.files import PROFILE_DIR
from pantau.site.config import SiteConfig, load_site

FIELD_CONFIGS: Final = PROFILE_DIR.parent
SITE_FILES: Final = ("ampal-mufakat.yaml", "soekarno-hatta-km13.yaml")
RULES_FILE: Final = FIELD_CONFIGS / "rules" / "balikpapan.yaml"
#: Read-only route groups the demo API serves without a key.
PUBLIC_ROUTES: Final = ["inventory", "latest", "series", "vehicles", "alerts", "reports", "health", "metrics"]
#: Level gauges poll every second: at 60x compression a storm's fastest rise stays well below the QC
#: spike threshold between readings (0.3 m against the median of the 5 before).
GAUGE_POLL: Final = "1s"
RAIN_POLL: Final = "5s"
#: In the demo the pressure transmitter sits behind a Modbus TCP gateway, so both transports run.
MODBUS_TCP_DEVICE: Final = ("ampal-mufakat", "wl-pressure")


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    protocol: Literal[5, 311]
    username: str | None = None
    password_env: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        """`mqtt://[user@]host[:port]` of a broker someone else runs (MQTT v5, as in the field)."""
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ConfigError("--broker", [f"{url!r} is not like mqtt://host:1883"])
        if parts.password:
            raise ConfigError("--broker", ["put the password in PANTAU_MQTT_PASSWORD, not in the URL"])
        return cls(
            parts.hostname,
            parts.port or 1883,
            5,
            parts.username,
            "PANTAU_MQTT_PASSWORD" if parts.username else None,
        )

    def section(self, username: str) -> dict[str, Any]:
        """The `mqtt:` section for one client; each logs in with its own name unless the URL gave one."""
        section: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "username": self.username or username,
        }
        if self.password_env:
            section["password_env"] = self.password_env
        return section


@dataclass(frozen=True)
class Links:
    """Where the simulators are: a pty path per serial bus, a TCP port per TCP bus (bus id -> link)."""

    serial: dict[str, Path] = field(default_factory=dict)
    tcp: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoFiles:
    sites: list[tuple[SiteConfig, Path]]
    backend: BackendConfig
    backend_path: Path
    operator_key: str


def serial_buses() -> list[str]:
    """Bus ids that need a virtual serial cable (the RS-485 and RS-232 buses of the field sites)."""
    found = []
    for name in SITE_FILES:
        for bus in _read(FIELD_CONFIGS / "sites" / name)["buses"]:
            connection = bus["connection"]
            if connection.get("transport") == "rtu" or connection.get("kind") == "serial":
                found.append(str(bus["id"]))
    return found


def tcp_buses() -> list[str]:
    """Bus ids the demo serves over TCP: the WIM link and the Modbus TCP gateway."""
    found = [f"{MODBUS_TCP_DEVICE[0]}-tcp"]
    for name in SITE_FILES:
        for bus in _read(FIELD_CONFIGS / "sites" / name)["buses"]:
            if bus["connection"].get("kind") == "tcp":
                found.append(str(bus["id"]))
    return found


def write_demo_files(
    workdir: Path, links: Links, broker: Broker, *, api_port: int, influx_url: str | None
) -> DemoFiles:
    """Write sites/, rules/ and backend.yaml into `workdir`, validated as the field loads them."""
    (workdir / "sites").mkdir(parents=True, exist_ok=True)
    (workdir / "rules").mkdir(exist_ok=True)
    sites = []
    for name in SITE_FILES:
        document = site_document(_read(FIELD_CONFIGS / "sites" / name), links, broker, workdir)
        path = workdir / "sites" / name
        _write(path, document, f"pantau demo: {FIELD_CONFIGS.name}/sites/{name} wired to the simulators")
        sites.append((load_site(path), path))
    rules = workdir / "rules" / "balikpapan-demo.yaml"
    _write(
        rules,
        rules_document(),
        "pantau demo: balikpapan.yaml with the timers of pantau_demo/rules-overlay.yaml",
    )
    load_rules(rules)
    key = secrets.token_urlsafe(24)
    backend_path = workdir / "backend.yaml"
    _write(
        backend_path, backend_document(broker, api_port, influx_url, key), "pantau demo: the backend worker"
    )
    return DemoFiles(sites, load_backend_config(backend_path), backend_path, key)


def site_document(source: dict[str, Any], links: Links, broker: Broker, workdir: Path) -> dict[str, Any]:
    """A field site file rewired for the bench: simulators, local broker, fast polls, local outbox."""
    document = copy.deepcopy(source)
    site = document["site"]
    document["mqtt"] = broker.section(document["gateway"])
    document["outbox"] = {"path": str(workdir / "outbox" / f"{site}.db"), "max_size": "64MB", "max_age": "1d"}
    document["status_interval"] = "15s"
    extra: list[dict[str, Any]] = []
    for bus in document["buses"]:
        if bus["kind"] == "modbus":
            for device in bus["devices"]:
                device["poll_interval"] = GAUGE_POLL if device["id"].startswith("wl-") else RAIN_POLL
            moved = [d for d in bus["devices"] if (site, d["id"]) == MODBUS_TCP_DEVICE]
            bus["devices"] = [d for d in bus["devices"] if (site, d["id"]) != MODBUS_TCP_DEVICE]
            if moved:
                tcp_id = f"{site}-tcp"
                connection = {"transport": "tcp", "host": "127.0.0.1", "port": links.tcp[tcp_id]}
                extra.append({"id": tcp_id, "kind": "modbus", "connection": connection, "devices": moved})
        bus["connection"] = _link(bus, links)
    document["buses"].extend(extra)
    return document


def _link(bus: dict[str, Any], links: Links) -> dict[str, Any]:
    connection = dict(bus["connection"])
    if bus["id"] in links.serial:
        connection["port"] = str(links.serial[bus["id"]])
        # The demo's own cable has no line to wait for: let a lost link come back within a second or two.
        if bus["kind"] == "records":
            connection.update(backoff_base="200ms", backoff_cap="2s")
    elif bus["id"] in links.tcp:
        connection.update(host="127.0.0.1", port=links.tcp[bus["id"]])
    else:
        raise ConfigError(str(bus["id"]), ["the demo has no simulator for this bus"])
    return connection


def rules_document() -> dict[str, Any]:
    """The field rules with the demo overlay applied (same thresholds, shorter timers)."""
    document = _read(RULES_FILE)
    overlay_text = resources.files("pantau_demo").joinpath("rules-overlay.yaml").read_text(encoding="utf-8")
    overlay: dict[str, dict[str, Any]] = yaml.safe_load(overlay_text) or {}
    by_id = {rule["id"]: rule for rule in document["rules"]}
    unknown = sorted(set(overlay) - set(by_id))
    if unknown:
        raise ConfigError(
            "pantau_demo/rules-overlay.yaml", [f"no rule {rule!r} in {RULES_FILE}" for rule in unknown]
        )
    for rule_id, changes in overlay.items():
        by_id[rule_id].update(changes)
    return document


def backend_document(
    broker: Broker, api_port: int, influx_url: str | None, operator_key: str
) -> dict[str, Any]:
    storage: dict[str, Any] = {"sqlite": {"path": "pantau.sqlite3"}}
    if influx_url:
        storage["influx"] = {"url": influx_url, "database": "pantau_demo"}
    digest = hashlib.sha256(operator_key.encode()).hexdigest()
    return {
        "worker_id": "demo",
        "mqtt": broker.section("pantau-backend"),
        "storage": storage,
        "spool": {"path": "spool.sqlite3"},
        "sites": "sites",
        "rules": {"file": "rules/balikpapan-demo.yaml", "state": "rules-state.sqlite3", "tick": "1s"},
        "api": {
            "host": "127.0.0.1",
            "port": api_port,
            "public": PUBLIC_ROUTES,
            "keys": [{"name": "demo-operator", "role": "operator", "key_sha256": digest}],
        },
    }


def _read(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ConfigError(str(path), ["expected a mapping at the top level"])
    return document


def _write(path: Path, document: dict[str, Any], title: str) -> None:
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    path.write_text(f"# {title}\n{text}", encoding="utf-8")
