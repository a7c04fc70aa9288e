"""The MQTT v5 properties every pantau message carries, packed once per object (config.mqtt.PackedOnce): the
same bytes paho packs, read back by paho as the same two properties, for publishes and the Last Will."""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pantau.config.mqtt import CONTENT_TYPE, SCHEMA_VERSION_PROPERTY, MqttConnection, PackedOnce


def plain(packet_type: int) -> Properties:
    properties = Properties(packet_type)  # type: ignore[no-untyped-call]
    properties.ContentType = CONTENT_TYPE
    properties.UserProperty = [(SCHEMA_VERSION_PROPERTY, "1")]
    return properties


def test_packed_once_is_what_paho_packs_and_reads_back() -> None:
    for will, packet_type in ((False, PacketTypes.PUBLISH), (True, PacketTypes.WILLMESSAGE)):
        properties = MqttConnection(host="broker").message_properties(will=will)
        assert isinstance(properties, PackedOnce)
        first = properties.pack()
        assert first == plain(packet_type).pack()  # type: ignore[no-untyped-call]
        assert properties.pack() is first  # the second publish reuses the bytes
        read = Properties(packet_type)  # type: ignore[no-untyped-call]
        read.unpack(first)  # type: ignore[no-untyped-call]
        got = (getattr(read, "ContentType", None), getattr(read, "UserProperty", None))
        assert got == (CONTENT_TYPE, [(SCHEMA_VERSION_PROPERTY, "1")])


def test_mqtt_3_1_1_has_no_properties() -> None:
    assert MqttConnection(host="broker", protocol=311).message_properties() is None
