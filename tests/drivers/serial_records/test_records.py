"""VehicleRecord: exactly the contract Vehicle without its envelope, validated by the contract itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from drivers.serial_records import VehicleRecord
from drivers.serial_records.records import describe_validation_error
from pantau.contract import Axle, Quality, Reason, Tyres, Vehicle, decode, encode

T0 = datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC)
ENVELOPE = {"schema_version", "kind", "site", "device", "gateway", "seq"}


def test_fields_are_the_vehicle_fields_without_the_envelope() -> None:
    assert set(VehicleRecord.model_fields) == set(Vehicle.model_fields) - ENVELOPE


def test_to_message_adds_only_the_envelope() -> None:
    record = VehicleRecord(
        ts=T0,
        source="wim",
        record_id="412",
        lane=1,
        direction="to-port",
        speed_kmh=42.5,
        gvw_kg=31640,
        axles=[
            Axle(load_kg=6120, tyres=Tyres.SINGLE, spacing_m=3.45),
            Axle(load_kg=12860, tyres=Tyres.DUAL, spacing_m=1.31),
            Axle(load_kg=12660, tyres=Tyres.DUAL),
        ],
        groups=[1, 2],
    )
    message = record.to_message(site="soekarno-hatta-km13", device="wim-1", gateway="gw-sh-km13", seq=911)
    assert isinstance(message, Vehicle)
    assert (message.site, message.device, message.gateway, message.seq) == (
        "soekarno-hatta-km13",
        "wim-1",
        "gw-sh-km13",
        911,
    )
    assert message.model_dump(exclude=ENVELOPE) == record.model_dump()
    assert message.axle_configuration == "1-2.2"
    assert decode(encode(message)) == message


def test_local_times_become_utc() -> None:
    wita = timezone(timedelta(hours=8))
    record = VehicleRecord(ts=datetime(2026, 11, 28, 14, 4, tzinfo=wita), source="weighbridge", gvw_kg=1.0)
    assert record.ts == datetime(2026, 11, 28, 6, 4, tzinfo=UTC)
    assert record.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gvw_kg": 400_000.0}, "gvw_kg = 400000.0: Input should be less than or equal to 300000"),
        ({"lane": 0}, "lane = 0: Input should be greater than or equal to 1"),
        ({"speed_kmh": 300.0}, "speed_kmh = 300.0"),
        ({"axles": [Axle(load_kg=1, spacing_m=2.0)]}, "the last axle has no spacing"),
        ({"axles": [Axle(load_kg=1)], "groups": [2]}, "groups [2] hold 2 axles but 1 axles are listed"),
        ({"quality": Quality.SUSPECT}, "a reason is required exactly when quality is not 'good'"),
        ({"quality": Quality.MISSING, "reason": Reason.TIMEOUT}, "quality 'missing' is not allowed"),
        ({"axles": [Axle(load_kg=1)] * 21}, "axles: List should have at most 20 items"),
        ({"direction": "To Port"}, "direction = 'To Port': String should match pattern"),
        ({"gvw_kg": True}, "gvw_kg = True: Input should be a valid number"),
    ],
)
def test_the_contract_rules_apply_at_construction(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        VehicleRecord.model_validate({"ts": T0, "source": "wim", "gvw_kg": 1000.0} | fields)
    assert message in describe_validation_error(caught.value)


def test_records_are_immutable() -> None:
    record = VehicleRecord(ts=T0, source="wim", gvw_kg=1.0)
    with pytest.raises(ValidationError, match="frozen"):
        record.gvw_kg = 2.0  # type: ignore[misc]
