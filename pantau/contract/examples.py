"""One realistic example of every message kind (Balikpapan sites), for docs, the CLI and tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from pantau.contract.messages import (
    Acknowledgement,
    AlertTransition,
    Axle,
    DeviceStatus,
    Dimensions,
    GatewayClock,
    GatewayStatus,
    Message,
    OutboxStats,
    Reading,
    Readings,
    Reason,
    Receipt,
    RecordReject,
    SeqRange,
    Tyres,
    Vehicle,
)

_T0: Final = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)


def example_messages() -> dict[str, Message]:
    """Message kind -> an example of it that validates."""
    return {
        "readings": Readings(
            site="ampal-mufakat",
            device="wl-radar-1",
            gateway="gw-ampal-mufakat",
            seq=48213,
            ts=_T0,
            channels={
                "level": Reading(value=2.173, unit="m"),
                "distance": Reading(value=3.827, unit="m"),
                "echo_amplitude": Reading(value=61.5, unit="dB"),
                "device_status": Reading(value=0, text="ok"),
                "signal_quality": Reading.missing(Reason.TIMEOUT, detail="no reply within 500 ms"),
                "ne107": Reading.measured(float("nan")),
            },
        ),
        "vehicle": Vehicle(
            site="soekarno-hatta-km13",
            device="wim-1",
            gateway="gw-sh-km13",
            seq=911,
            ts=_T0.replace(minute=4, second=17, microsecond=250000),
            source="wim",
            record_id="20261128-000412",
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
            vehicle_class="6B",
            dimensions=Dimensions(length_m=9.8, width_m=2.5, height_m=3.9),
        ),
        "gateway_status": GatewayStatus(
            site="ampal-mufakat",
            gateway="gw-ampal-mufakat",
            seq=48200,
            ts=_T0,
            state="online",
            software_version="0.1.0",
            started_at=_T0.replace(hour=0),
            outbox=OutboxStats(
                depth=12, oldest_ts=_T0.replace(minute=0, second=0), dropped_total=0, awaiting_receipt=40
            ),
            clock=GatewayClock(plausible=True, not_before=datetime(2026, 11, 28, tzinfo=UTC)),
        ),
        "device_status": DeviceStatus(
            site="ampal-mufakat",
            device="rain-1",
            gateway="gw-ampal-mufakat",
            seq=48190,
            ts=_T0,
            state="failing",
            since=_T0.replace(hour=5, minute=52),
            last_success=_T0.replace(hour=5, minute=51),
            consecutive_failures=8,
            reason=Reason.TIMEOUT,
            detail="no reply from unit 3 on bus rs485-1",
            requests_total=10412,
            errors_total=31,
            discarded_replies_total=2,
        ),
        "record_reject": RecordReject(
            site="soekarno-hatta-km13",
            device="wim-1",
            gateway="gw-sh-km13",
            seq=912,
            ts=_T0.replace(minute=4, second=21),
            reason="bad_field",
            field="gvw",
            problem="gvw: '3164O' is not a number",
            excerpt=(
                "413,2026-11-28 14:04:21.50,1,1,41.0,6B,3164O,3,6120,12860,12660,345,131,980,250,390,0,3C"
            ),
            frame_bytes=88,
            unsampled=3,
        ),
        "alert": AlertTransition(
            site="ampal-mufakat",
            source="backend-1",
            seq=3,
            ts=_T0,
            alert_id="flood-level:ampal-mufakat:wl-radar-1:level",
            rule="flood-level",
            device="wl-radar-1",
            channel="level",
            state="firing",
            previous_state="firing",
            level="Siaga II",
            severity=2,
            previous_level="Siaga III",
            value=2.173,
            threshold=2.0,
            unit="m",
            message="Sungai Ampal at Mufakat 2.17 m: Siaga II (>= 2.00 m)",
            started_at=_T0.replace(hour=5, minute=31),
            acknowledgement=Acknowledgement(
                by="ops-wita-1", at=_T0.replace(minute=2), note="team dispatched", key="ops-center"
            ),
        ),
        "receipt": Receipt(
            site="ampal-mufakat",
            gateway="gw-ampal-mufakat",
            source="backend-1",
            ts=_T0.replace(second=2),
            seqs=[SeqRange(first=48200, last=48212), SeqRange(first=48214, last=48214)],
        ),
    }
