"""The MQTT connection's TLS files (pantau/config/mqtt.py), shared by the site and backend configs: a client
certificate and its key are checked when the config loads, and every problem names the field and the file.
The files are in tests/pantau/certs (this lane starts no `openssl`)."""

from __future__ import annotations

import re
import shutil
import ssl
from pathlib import Path
from typing import Any

import pytest

from backend.config import load_backend_config
from pantau.config import ConfigError
from pantau.config.mqtt import MqttConnection
from pantau.site.config import load_site

CERTS = Path(__file__).parent / "certs"
CA, CERT, KEY = CERTS / "ca.crt", CERTS / "gw-ampal-mufakat.crt", CERTS / "gw-ampal-mufakat.key"
ANOTHER_KEY = CERTS / "another.key"
SITE = Path(__file__).parents[2] / "firmware_configs/sites/ampal-mufakat.yaml"


def connection(**tls: Any) -> MqttConnection:
    return MqttConnection.model_validate({"host": "mqtt.example", "port": 8883, "tls": True} | tls)


def test_a_client_certificate_and_its_key_load_into_the_tls_context() -> None:
    config = connection(ca_file=str(CA), certfile=str(CERT), keyfile=str(KEY))
    context = config.tls_context()
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("tls", "problem"),
    [
        ({"certfile": str(CERT)}, "give certfile and keyfile together"),
        ({"keyfile": str(KEY)}, "give certfile and keyfile together"),
        (
            {"tls": False, "certfile": str(CERT), "keyfile": str(KEY)},
            "certfile and keyfile set without tls: true",
        ),
        ({"tls": False, "ca_file": str(CA)}, "ca_file set without tls: true"),
        (
            {"certfile": "/nonexistent/gw.crt", "keyfile": str(KEY)},
            "certfile /nonexistent/gw.crt does not exist",
        ),
        ({"certfile": str(CERT), "keyfile": str(CERTS)}, f"keyfile {CERTS} is not a file"),
        ({"ca_file": "/nonexistent/ca.crt"}, "ca_file /nonexistent/ca.crt does not exist"),
        (
            {"certfile": str(CERT), "keyfile": str(ANOTHER_KEY)},
            f"keyfile {ANOTHER_KEY}: this key does not belong to certfile",
        ),
        ({"certfile": str(KEY), "keyfile": str(KEY)}, f"certfile {KEY}: no certificate in PEM form here"),
        ({"certfile": str(CERT), "keyfile": str(CERT)}, f"keyfile {CERT}: no private key in PEM form"),
        ({"ca_file": str(KEY)}, f"ca_file {KEY}: no certificate in PEM form here"),
    ],
)
def test_a_wrong_tls_setting_is_refused_naming_the_field_and_the_file(
    tls: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        connection(**tls)


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase() -> None:
    # OpenSSL would prompt on the terminal for the passphrase: a service would hang at start.
    encrypted = CERTS / "encrypted.key"  # gw-ampal-mufakat.key, encrypted
    problem = f"keyfile {encrypted}: the key is encrypted: pantau needs it unencrypted"
    with pytest.raises(ValueError, match=re.escape(problem)):
        connection(certfile=str(CERT), keyfile=str(encrypted))


def test_the_site_file_names_itself_and_the_field(tmp_path: Path) -> None:
    site = tmp_path / "ampal-mufakat.yaml"
    text = SITE.read_text(encoding="utf-8")
    assert "  tls: true\n" in text
    site.write_text(
        text.replace("  tls: true\n", f"  tls: true\n  certfile: {CERT}\n  keyfile: {ANOTHER_KEY}\n"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_site(site)
    message = str(refused.value)
    assert message.startswith(f"{site}:")
    assert f"mqtt: keyfile {ANOTHER_KEY}: this key does not belong to certfile" in message


def test_the_backend_config_takes_the_same_fields(tmp_path: Path) -> None:
    for name in ("ca.crt", "gw-ampal-mufakat.crt", "gw-ampal-mufakat.key"):
        shutil.copy(CERTS / name, tmp_path / name)
    config_file = tmp_path / "backend.yaml"
    config_file.write_text(
        "worker_id: w1\n"
        "mqtt:\n"
        "  host: localhost\n"
        "  port: 8883\n"
        "  tls: true\n"
        f"  ca_file: {tmp_path / 'ca.crt'}\n"
        f"  certfile: {tmp_path / 'gw-ampal-mufakat.crt'}\n"
        f"  keyfile: {tmp_path / 'gw-ampal-mufakat.key'}\n",
        encoding="utf-8",
    )
    assert load_backend_config(config_file).mqtt.tls_context() is not None
    (tmp_path / "gw-ampal-mufakat.key").unlink()
    with pytest.raises(ConfigError, match=r"keyfile .*gw-ampal-mufakat\.key does not exist"):
        load_backend_config(config_file)
