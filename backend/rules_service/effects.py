"""What one contract message does to the rules engine: the transitions it causes and the points to store
(QC verdicts on readings, ODOL verdicts with each vehicle, scale drift). The live service and the journal
replay both go through here, so they cannot drift apart."""

from __future__ import annotations

from datetime import datetime

from backend.rules import RuleEngine
from backend.storage.model import Point
from backend.storage.schema import qc_point, scale_drift_point, vehicle_point, vehicle_verdict_point
from pantau.contract import AlertTransition, DeviceStatus, GatewayStatus, Message, Readings, Vehicle


def evaluate(
    engine: RuleEngine, message: Message, now: datetime
) -> tuple[list[AlertTransition], list[Point]]:
    """One contract message through the engine: the transitions it caused and the points to store."""
    if isinstance(message, Readings):
        evaluation = engine.on_readings(message, now)
        points = [
            qc_point(message, channel, verdict.flag, verdict.reason)
            for channel, verdict in evaluation.qc.items()
        ]
        return evaluation.transitions, points
    if isinstance(message, Vehicle):
        judged = engine.on_vehicle(message, now)
        points = [vehicle_point(message, judged.fields())]
        if (verdict := judged.verdict) is not None:
            points.append(
                vehicle_verdict_point(
                    message,
                    verdict=verdict.verdict,
                    configuration=verdict.axle_configuration,
                    excess_kg=verdict.excess_kg,
                    esal=verdict.esal,
                )
            )
        points.extend(
            scale_drift_point(
                site=u.site,
                device=u.device,
                rule=u.rule,
                at=u.at,
                samples=u.samples,
                median_kg=u.median_kg,
                reference_kg=u.reference_kg,
                drift_pct=u.drift_pct,
            )
            for u in judged.drift
            if u.median_kg is not None and u.drift_pct is not None
        )
        return judged.transitions, points
    if isinstance(message, GatewayStatus):
        return engine.on_gateway_status(message, now), []
    if isinstance(message, DeviceStatus):
        return engine.on_device_status(message, now), []
    return [], []  # alert transitions are the engine's own output, never its input
