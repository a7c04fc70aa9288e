"""The shipped example backend config loads, and everything it points at exists and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import load_backend_config
from backend.inventory import SiteInventory
from backend.rules import load_rules
from backend.storage import schema
from backend.storage.config import StorageConfig
from backend.storage.model import RetentionClass
from pantau.config import ConfigError

EXAMPLE = Path(__file__).parents[2] / "firmware_configs" / "backend.example.yaml"


def test_the_example_config_and_what_it_names_load() -> None:
    config = load_backend_config(EXAMPLE)
    assert config.rules is not None and config.sites is not None and config.api is not None
    assert config.rules.file.is_file(), "rules paths are relative to the config file"
    assert len(load_rules(config.rules.file).rules) > 0
    assert {site.id for site in SiteInventory.load(config.sites).sites()} >= {"ampal-mufakat"}
    assert config.rules_state_path().parent == EXAMPLE.parent / "var"
    assert set(config.rules.notifiers) == {"ops-webhook", "bpbd-telegram"}


def test_a_typo_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "backend.yaml"
    bad.write_text("rules:\n  file: rules.yaml\n  tik: 5s\n")
    with pytest.raises(ConfigError) as caught:
        load_backend_config(bad)
    assert "backend.yaml" in str(caught.value)
    assert "tik" in str(caught.value)


def test_every_measurement_has_a_bounded_retention_by_default() -> None:
    """An unattended site must not fill its disk: nothing is kept for ever unless an operator says so."""
    retention = StorageConfig().retention
    kept = {RetentionClass.RAW: retention.raw, RetentionClass.LONG: retention.long}
    measurements = {
        value for name, value in vars(schema).items() if name.isupper() and isinstance(value, str)
    } - {""}
    assert measurements <= set(schema.RETENTION), "a measurement without a retention class"
    assert all(kept[schema.RETENTION[m]] is not None for m in measurements)
    assert load_backend_config(EXAMPLE).storage.retention.long is not None


def test_an_influx_section_under_backend_sqlite_is_an_error(tmp_path: Path) -> None:
    # It was accepted and read by nothing: the readings went to SQLite while the file named an InfluxDB.
    path = tmp_path / "backend.yaml"
    path.write_text("storage:\n  backend: sqlite\n  influx: {url: 'http://127.0.0.1:8086'}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:3: storage: influx: not used with backend 'sqlite'"):
        load_backend_config(path)
