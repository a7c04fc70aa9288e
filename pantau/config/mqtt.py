"""How a pantau process reaches its MQTT broker: shared by the gateway and the backend configs.

Passwords never live in the YAML: they come from an environment variable or a file (a systemd
credential, a Docker secret), read at connect time.
"""

from __future__ import annotations

import os
import ssl
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


class MqttConnection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    ca_file: Path | None = None
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
        properties = Properties(PacketTypes.WILLMESSAGE if will else PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = CONTENT_TYPE
        properties.UserProperty = [(SCHEMA_VERSION_PROPERTY, str(SCHEMA_VERSION))]
        return properties

    def tls_context(self) -> ssl.SSLContext | None:
        """TLS 1.2+ with the system CAs or `ca_file`; None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.sslsocket_class = _ClosingSSLSocket
        return context


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
