"""How a pantau process reaches its MQTT broker: shared by the gateway and the backend configs.

Passwords never live in the YAML: they come from an environment variable or a file (a systemd
credential, a Docker secret), read at connect time.

TLS: `tls: true` with the system CAs or `ca_file`, TLS 1.2 or later. A broker that requires client
certificates (per-gateway certificates, SECURITY.md) gets `certfile` and `keyfile`. The files are checked
when the config is loaded (they exist, can be read, hold what they should, and the key belongs to the
certificate), so a wrong path fails `pantau gateway check` and the start, naming the file, instead of
every connect attempt for months.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from pantau.config.durations import Duration
from pantau.config.files import ConfigError
from pantau.contract.messages import SCHEMA_VERSION
from pantau.contract.topics import DEFAULT_PREFIX

#: MQTT v5 user property naming the contract version of a message, so a consumer can route or refuse it
#: before parsing the payload.
SCHEMA_VERSION_PROPERTY: Final = "pantau-schema-version"
CONTENT_TYPE: Final = "application/json"


class PackedOnce(Properties):
    """MQTT v5 properties whose wire form is computed once, on the first publish that carries them.

    paho packs a message's properties on every publish, walking every property name MQTT v5 defines: about
    a sixth of the gateway's publishing CPU (bench/gateway_cpu.py), for the same two properties each time.
    Fill them in before the first publish; the object is shared by a whole batch and never changed after."""

    def __init__(self, packet_type: int) -> None:
        super().__init__(packet_type)  # type: ignore[no-untyped-call]
        object.__setattr__(self, "_packed", None)  # paho's __setattr__ takes only property names

    def pack(self) -> bytes:
        packed: bytes | None = self.__dict__["_packed"]
        if packed is None:
            packed = bytes(super().pack())  # type: ignore[no-untyped-call]
            object.__setattr__(self, "_packed", packed)
        return packed


class MqttConnection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) the broker's is checked against"
    )
    certfile: Path | None = Field(
        default=None, description="This client's certificate (PEM), for a broker that requires one"
    )
    keyfile: Path | None = Field(default=None, description="The unencrypted private key (PEM) of `certfile`")
    username: str | None = None
    password_env: str | None = Field(default=None, description="Environment variable holding the password")
    password_file: Path | None = Field(
        default=None, description="File holding the password (systemd credential)"
    )
    client_id: str | None = Field(default=None, max_length=128)
    protocol: Literal[5, 311] = 5
    topic_prefix: str = DEFAULT_PREFIX
    keepalive: Duration = timedelta(seconds=30)
    reconnect_cap: Duration = Field(
        default=timedelta(minutes=2), description="Longest wait between reconnects"
    )

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConnection:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConnection:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("give certfile and keyfile together (a client certificate and its key)")
        files = {name: getattr(self, name) for name in ("ca_file", "certfile", "keyfile")}
        given = [name for name, path in files.items() if path is not None]
        if given and not self.tls:
            raise ValueError(f"{' and '.join(given)} set without tls: true")
        if self.ca_file is not None:
            _check_tls_file("ca_file", self.ca_file, lambda c: c.load_verify_locations(cafile=self.ca_file))
        if self.certfile is not None and self.keyfile is not None:
            cert, key = self.certfile, self.keyfile
            _check_tls_file("certfile", cert, lambda c: c.load_verify_locations(cafile=cert))
            _check_tls_file("keyfile", key, lambda c: c.load_cert_chain(cert, key, password=_no_password))
        return self

    def password(self) -> SecretStr | None:
        """The password from the environment or a file, read at connect time (never stored in the YAML)."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    "mqtt", [f"password_env: environment variable {self.password_env} is not set"]
                )
            return SecretStr(value)
        if self.password_file:
            try:
                return SecretStr(self.password_file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError(str(self.password_file), [f"cannot read the MQTT password: {exc}"]) from exc
        return None

    def message_properties(self, *, will: bool = False) -> Properties | None:
        """What every pantau message carries on an MQTT v5 connection: content type `application/json` and
        the contract version as a user property. None on 3.1.1, which has no properties."""
        if self.protocol != 5:
            return None
        properties = PackedOnce(PacketTypes.WILLMESSAGE if will else PacketTypes.PUBLISH)
        properties.ContentType = CONTENT_TYPE
        properties.UserProperty = [(SCHEMA_VERSION_PROPERTY, str(SCHEMA_VERSION))]
        return properties

    def tls_context(self) -> ssl.SSLContext | None:
        """TLS 1.2+ with the system CAs or `ca_file`; None without TLS."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.certfile is not None and self.keyfile is not None:
                context.load_cert_chain(self.certfile, self.keyfile, password=_no_password)
        except (OSError, ValueError) as exc:  # checked at load: a file changed since
            files = ", ".join(str(p) for p in (self.ca_file, self.certfile, self.keyfile) if p is not None)
            raise ConfigError(files, [f"cannot load the MQTT TLS files: {exc}"]) from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.sslsocket_class = _ClosingSSLSocket
        return context


def _check_tls_file(field: str, path: Path, load: Callable[[ssl.SSLContext], None]) -> None:
    """Load `path` into a scratch context; a ValueError naming the field, the file and what is wrong."""
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise ValueError(f"{field} {path} {problem}")
    try:
        load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    except _EncryptedKeyError as exc:
        raise ValueError(f"{field} {path}: {exc}") from exc
    except OSError as exc:  # ssl.SSLError is an OSError
        raise ValueError(f"{field} {path}: {_ssl_problem(field, exc)}") from exc


class _EncryptedKeyError(ValueError):
    pass


def _no_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's passphrase: a service
    # would hang at start.
    raise _EncryptedKeyError(
        "the key is encrypted: pantau needs it unencrypted (protect it by its file mode)"
    )


def _ssl_problem(field: str, exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        if exc.reason == "KEY_VALUES_MISMATCH":
            return "this key does not belong to certfile (each gateway's key and certificate are a pair)"
        wanted = "private key" if field == "keyfile" else "certificate"
        return f"no {wanted} in PEM form here ({exc.reason or exc})"
    return f"cannot read it: {exc.strerror or exc}"


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails. paho drops the socket of a failed
    handshake without closing it: its descriptor stayed open until the garbage collector came by (one per
    retry of a gateway whose broker certificate is refused), and Python warned about it."""

    def do_handshake(self, block: bool = False) -> None:  # noqa: FBT001, FBT002  # ssl.SSLSocket's signature
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise
