"""docker-compose.yml checked for structure (Docker cannot run here): pinned images, bind mounts of files
that exist, every variable documented and made by make-secrets.sh, health checks behind every
`service_healthy`, loopback-only ports, and the configs it mounts loading with pantau's own loaders
from where the containers see them."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.config import load_backend_config
from backend.inventory import SiteInventory
from backend.rules import load_rules
from backend.storage.config import RetentionConfig
from backend.storage.influx import influxql
from gateway.inventory import resolve_site
from pantau import __version__
from pantau.site.config import DeviceConfig, ModbusBusSpec, RecordStreamSpec, load_site
from tests.deploy.compose import (
    COMPOSE,
    DEPLOY,
    REPO,
    binds,
    command_of,
    load,
    named_volumes,
    services,
    unknown_options,
    variables,
)

PANTAU = {"backend", "simulator-radar", "simulator-pressure", "simulator-rain", "simulator-wim",
          "gateway-ampal-mufakat", "gateway-sh-km13"}  # fmt: skip
SIMULATED = PANTAU - {"backend"}
#: Made by make-secrets.sh, so it cannot be in the repository.
SECRET_FILES = {DEPLOY / "secrets" / "mosquitto.passwd"}


def version() -> str:
    """pantau's version, where pyproject.toml reads it from (its `dynamic` version)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pantau.__version__"}
    return __version__


def test_the_services_of_the_production_shape() -> None:
    found = services()
    assert set(found) == {"mosquitto", "influxdb", "grafana", *PANTAU}
    # The simulated sites only start with `--profile simulated`; the stack itself without it.
    assert {name for name, s in found.items() if s.get("profiles") == ["simulated"]} == SIMULATED
    assert all("profiles" not in found[name] for name in ("mosquitto", "influxdb", "grafana", "backend"))


def test_images_are_pinned_and_pantau_is_built_here() -> None:
    for name, service in services().items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: pin {image!r} to a version tag"
        if name in PANTAU:
            assert image == f"pantau:{version()}" and service["build"] == ".", name
        else:
            assert "build" not in service, name
            assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: {image!r} should name an exact release"
    assert services()["influxdb"]["image"].startswith("influxdb:1.")  # the v1 API, natively


def test_bind_mounts_exist_and_are_read_only() -> None:
    for name, service in services().items():
        for bind in binds(service):
            assert bind.read_only, f"{name}: mount {bind.source} read-only"
            if bind.source in SECRET_FILES:
                assert bind.source.relative_to(REPO).as_posix() in (DEPLOY / "make-secrets.sh").read_text()
                continue
            assert bind.source.exists(), f"{name}: {bind.source} is not in the repository"
            assert bind.source.is_relative_to(REPO), f"{name}: {bind.source} is outside the repository"


def test_named_volumes_are_declared_and_hold_all_state() -> None:
    declared = set(load()["volumes"])
    used = {v for service in services().values() for v in named_volumes(service)}
    assert used == declared
    for name in ("backend", "gateway-ampal-mufakat", "gateway-sh-km13"):
        assert any(v.endswith(":/var/lib/pantau") for v in services()[name]["volumes"]), name


def test_every_variable_is_documented_and_made_by_make_secrets() -> None:
    text = COMPOSE.read_text()
    referenced = variables(text)
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    script = (DEPLOY / "make-secrets.sh").read_text()
    # The viewer's password only goes into the broker's password file (for watchers outside compose).
    assert referenced | {"PANTAU_MQTT_VIEWER_PASSWORD"} == set(example)
    for variable in referenced:
        assert f"{variable}=" in script, f"make-secrets.sh does not write {variable}"
    # Required secrets fail loudly when unset instead of starting with an empty password.
    for match in re.finditer(r"\$\{([A-Z0-9_]+)([^}]*)\}", text):
        assert match.group(2).startswith(":?"), f"${{{match.group(1)}}} must be required (:?message)"


def test_health_checks_guard_every_dependency() -> None:
    found = services()
    for name, service in found.items():
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in found[dependency], dependency
            assert found[dependency].get("profiles") in (None, service.get("profiles")), (
                f"{name} depends on {dependency}, which another profile starts"
            )
    assert set(found["backend"]["depends_on"]) == {"mosquitto", "influxdb"}
    assert set(found["grafana"]["depends_on"]) == {"influxdb"}
    # The backend is healthy when it is ready: storage and broker answer, not only the process.
    assert "/api/v1/health/ready" in " ".join(found["backend"]["healthcheck"]["test"])


def test_ports_are_published_on_loopback_only() -> None:
    published = {}
    for name, service in services().items():
        for port in service.get("ports", []):
            host, outside, inside = port.split(":")
            assert host == "127.0.0.1", f"{name}: {port} would be open to the network"
            published[name] = (int(outside), int(inside))
    assert published == {"mosquitto": (1883, 1883), "grafana": (3000, 3000), "backend": (8000, 8000)}


def test_pantau_commands_exist_with_their_options() -> None:
    for name in PANTAU:
        args = services()[name]["command"]
        command, rest = command_of(args)
        assert unknown_options(command, rest) == [], f"{name}: {args}"


def container_root(service: dict[str, Any], root: Path) -> Path:
    """Copy the service's bind mounts to where its container sees them, under `root`."""
    for bind in binds(service):
        target = root / bind.target.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if bind.source.is_dir():
            shutil.copytree(bind.source, target)
        elif bind.source.exists():
            shutil.copy(bind.source, target)
    return root


def test_the_backend_config_loads_as_the_container_sees_it(tmp_path: Path) -> None:
    service = services()["backend"]
    assert service["command"][-2:] == ["--config", "/etc/pantau/backend.yaml"]
    root = container_root(service, tmp_path)
    config = load_backend_config(root / "etc/pantau/backend.yaml")
    assert config.sites is not None and config.rules is not None and config.api is not None
    inventory = SiteInventory.load(config.sites)
    assert {s.id for s in inventory.sites()} == {"ampal-mufakat", "soekarno-hatta-km13"}
    assert load_rules(config.rules.file).rules
    # Every secret the config names comes from the service's environment; state goes to the volume.
    environment = service["environment"]
    assert config.mqtt.password_env in environment
    assert config.storage.influx is not None and config.storage.influx.password_env in environment
    assert {key.key_sha256_env for key in config.api.keys} <= set(environment)
    assert str(config.spool_path).startswith("/var/lib/pantau/")
    assert str(config.rules_state_path()).startswith("/var/lib/pantau/")
    # Reachable through the published port: the API listens on all the container's interfaces.
    assert (config.api.host, config.api.port) == ("0.0.0.0", 8000)  # noqa: S104 - inside the container
    assert config.mqtt.host == "mosquitto" and config.storage.influx.url == "http://influxdb:8086"
    assert config.mqtt.username == "backend"


def test_influxdb_is_initialised_for_a_backend_that_is_no_admin() -> None:
    service = services()["influxdb"]
    env = service["environment"]
    assert env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    config = yaml.safe_load((DEPLOY / "backend.yaml").read_text())["storage"]["influx"]
    assert config["manage_database"] is False
    assert (env["INFLUXDB_DB"], env["INFLUXDB_USER"]) == (config["database"], config["username"])
    statements = (DEPLOY / "influxdb" / "init.iql").read_text()
    # The default names and durations of InfluxConfig and RetentionConfig, raw the default policy (what
    # the backend writes readings to): the worker does not manage them here, so they must agree.
    retention = RetentionConfig()
    raw, long = (influxql.duration_literal(keep) for keep in (retention.raw, retention.long) if keep)
    assert f'"pantau_raw" ON "{config["database"]}" DURATION {raw} REPLICATION 1 DEFAULT' in statements
    assert f'"pantau_long" ON "{config["database"]}" DURATION {long} REPLICATION 1' in statements
    grafana = services()["grafana"]["environment"]
    assert grafana["PANTAU_INFLUX_USER"] == env["INFLUXDB_READ_USER"]
    assert grafana["PANTAU_INFLUX_PASSWORD"] == env["INFLUXDB_READ_USER_PASSWORD"]


def test_mosquitto_mounts_what_its_shipped_config_names() -> None:
    service = services()["mosquitto"]
    targets = {bind.target for bind in binds(service)}
    conf = (REPO / "backend/deploy/mosquitto/mosquitto.conf").read_text()
    settings = dict(
        line.split(None, 1) for line in conf.splitlines() if line.strip() and not line.startswith("#")
    )
    assert {settings["password_file"], settings["acl_file"], "/mosquitto/config/mosquitto.conf"} <= targets
    assert settings["allow_anonymous"] == "false" and settings["persistence"] == "true"
    data = next(v for v in service["volumes"] if v.startswith("mosquitto-data:"))
    assert settings["persistence_location"].rstrip("/") == data.split(":")[1]


def test_grafana_gets_the_generated_provisioning_and_its_variables() -> None:
    service = services()["grafana"]
    mounts = {bind.target: bind.source for bind in binds(service)}
    assert mounts["/etc/grafana/provisioning"] == REPO / "grafana" / "provisioning"
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/pantau.yaml").read_text())
    dashboards = provider["providers"][0]["options"]["path"]
    assert mounts[dashboards] == REPO / "grafana" / "dashboards"
    assert any((REPO / "grafana" / "dashboards").glob("*.json"))
    # Dashboards point their geomap at public/gazetteer/...: mounted into Grafana's public folder.
    for dashboard in (REPO / "grafana" / "dashboards").glob("*.json"):
        for path in re.findall(r'"gazetteer": "public/([^"]+)"', dashboard.read_text()):
            assert mounts[f"/usr/share/grafana/public/{path}"] == REPO / "grafana" / path
    needed = set()
    for path in (REPO / "grafana" / "provisioning").rglob("*.yaml"):
        needed |= variables(path.read_text())
    assert needed <= set(service["environment"]), needed - set(service["environment"])


@pytest.mark.parametrize("gateway", ["gateway-ampal-mufakat", "gateway-sh-km13"])
def test_simulated_gateways_reach_their_simulators_with_their_own_user(gateway: str) -> None:
    found = services()
    service = found[gateway]
    (site_file,) = [b.source for b in binds(service) if b.target == "/etc/pantau/site.yaml"]
    assert service["command"] == ["gateway", "run", "--config", "/etc/pantau/site.yaml"]
    site = load_site(site_file)
    buses = resolve_site(site, site_file)  # profiles and parameters fit together
    assert len(buses) == len(site.buses)
    # The same site, gateway and devices as the field file the backend's inventory reads.
    field = load_site(REPO / "firmware_configs" / "sites" / site_file.name)
    assert (site.site, site.gateway, site.kind) == (field.site, field.gateway, field.kind)
    field_devices = {d.id: d for bus in field.buses for d in devices_of(bus)}
    acl = (REPO / "backend/deploy/mosquitto/acl").read_text()
    assert f"user {site.gateway}\ntopic write pantau/v1/{site.site}/#" in acl
    assert site.mqtt.host == "mosquitto" and site.mqtt.username == site.gateway
    assert site.mqtt.password_env in service["environment"]
    assert str(site.outbox.path).startswith("/var/lib/pantau/")
    for bus in site.buses:
        connection = bus.connection
        simulator = found[connection.host]
        (device,) = devices_of(bus)
        assert device.profile == field_devices[device.id].profile
        args = simulator["command"]
        assert args[args.index("--profile") + 1] == device.profile
        assert args[args.index("--tcp") + 1] == f"0.0.0.0:{connection.port}"
        if "--unit" in args:
            assert int(args[args.index("--unit") + 1]) == device.unit
        assert service["depends_on"][connection.host] == {"condition": "service_healthy"}
        assert str(connection.port) in " ".join(simulator["healthcheck"]["test"])


def devices_of(bus: ModbusBusSpec | RecordStreamSpec) -> list[DeviceConfig]:
    return list(bus.devices) if isinstance(bus, ModbusBusSpec) else [bus.device]
