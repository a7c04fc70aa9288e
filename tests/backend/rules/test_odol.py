"""ODOL verdicts over the whole JBI table at both MST classes, axle overload, over-dimension, unknowns; and
the ODOL alert on violations per window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.rules.kinds.odol.config import OdolRule
from backend.rules.kinds.odol.evaluator import judge
from backend.rules.limits import default_jbi, default_road_classes
from backend.rules.road_wear import STANDARD_AXLE_KG
from pantau.contract import Dimensions, Quality

from .helpers import T0, engine, rule, vehicle

ODOL = {"id": "odol", "kind": "odol", "check_axles": False, "check_dimensions": False}
JBI = default_jbi()
ROADS = default_road_classes()
ROWS = [(row.configuration, road) for row in JBI.rows for road in ("I", "II")]


def _odol(**changes: object) -> OdolRule:
    loaded = rule({**ODOL, **changes})
    assert isinstance(loaded, OdolRule)
    return loaded


def _spread(gvw: float, configuration: str) -> list[float]:
    axles = configuration.count("1") + configuration.count("2")
    return [gvw / axles] * axles


@pytest.mark.parametrize(("configuration", "road"), ROWS, ids=[f"{c}@{r}" for c, r in ROWS])
@pytest.mark.parametrize(
    ("factor", "verdict", "band"),
    [
        (1.0, "ok", None),
        (1.05, "tolerated", None),  # exactly at the tolerance
        (1.0501, "violation", "pelanggaran"),
        (1.5, "violation", "pelanggaran"),  # 50 % is not *above* 50 %
        (1.51, "violation", "sanksi-tol"),
        (2.01, "violation", "turun-muatan"),
    ],
)
def test_every_jbi_row_at_both_mst_classes(
    configuration: str, road: str, factor: float, verdict: str, band: str | None
) -> None:
    mst = ROADS.classes[road].mst_kg  # type: ignore[index]
    jbi = JBI.jbi_kg(configuration, mst)
    assert jbi is not None
    gvw = round(jbi * factor, 3)
    result = judge(vehicle(_spread(gvw, configuration), configuration), _odol(), road, JBI, ROADS)  # type: ignore[arg-type]
    assert (result.verdict, result.band, result.jbi_kg, result.mst_kg) == (verdict, band, jbi, mst)
    assert result.excess_kg == pytest.approx(gvw - jbi)
    assert result.excess_pct == pytest.approx((factor - 1) * 100, abs=1e-3)
    assert result.overloaded is (verdict == "violation")


def test_the_mst_column_follows_the_road_class() -> None:
    truck = vehicle([7000, 11000, 11000, 6500, 6500], "1-2.2-2.2")  # 42 t
    on_class_1 = judge(truck, _odol(), "I", JBI, ROADS)
    on_class_3 = judge(truck, _odol(), "III", JBI, ROADS)
    assert (on_class_1.jbi_kg, on_class_1.verdict) == (40_000, "tolerated")
    assert (on_class_3.jbi_kg, on_class_3.verdict, on_class_3.band) == (32_000, "violation", "pelanggaran")


def test_axle_over_mst() -> None:
    truck = vehicle([5000, 10_600], "1-2")  # 15.6 t: within JBI 16 t, but the drive axle is 6 % over MST 10 t
    result = judge(truck, _odol(check_axles=True), "I", JBI, ROADS)
    assert result.overloaded is False
    assert (result.verdict, result.axle_overloaded, result.overloaded_axles) == ("violation", True, 1)
    assert result.axle_excess_kg == 600 and result.axle_excess_pct == pytest.approx(6.0)
    within = judge(vehicle([5000, 10_400], "1-2"), _odol(check_axles=True), "I", JBI, ROADS)
    assert (within.verdict, within.axle_overloaded) == ("tolerated", False)


@pytest.mark.parametrize(
    ("road", "dims", "over"),
    [
        ("I", Dimensions(length_m=18.0, width_m=2.55, height_m=4.2), ()),
        ("I", Dimensions(length_m=18.01, width_m=2.55, height_m=4.2), ("length",)),
        ("II", Dimensions(length_m=12.5, width_m=2.5, height_m=4.0), ("length",)),
        ("III", Dimensions(length_m=9.0, width_m=2.3, height_m=3.5), ("width",)),
        ("III", Dimensions(length_m=8.0, width_m=2.2, height_m=3.6), ("height",)),
        # 1.7 x width: a 2.0 m wide truck may be 3.4 m high, under class I's 4.2 m
        ("I", Dimensions(length_m=8.0, width_m=2.0, height_m=3.5), ("height_to_width",)),
        ("I", Dimensions(length_m=8.0, width_m=2.0, height_m=3.4), ()),
    ],
)
def test_over_dimension_per_road_class(road: str, dims: Dimensions, over: tuple[str, ...]) -> None:
    truck = vehicle([4000, 8000], "1-2", dimensions=dims)
    result = judge(truck, _odol(check_dimensions=True), road, JBI, ROADS)  # type: ignore[arg-type]
    assert result.over_dimension_fields == over
    assert result.over_dimension is bool(over)
    assert result.verdict == ("violation" if over else "ok")


def test_tyres_are_assumed_from_the_axle_groups_when_the_scale_reports_none() -> None:
    """Most WIM scales see axle groups, not tyres: steering group single, the rest dual (the higher JBI)."""
    no_tyres = vehicle([6000, 11_000], None, groups=[1, 1])
    result = judge(no_tyres, _odol(check_axles=False), "I", JBI, ROADS)
    assert (result.axle_configuration, result.configuration_inferred, result.jbi_kg) == ("1-2", True, 16_000)
    assert result.verdict == "violation"  # 17 t against 16 t: +6.25 %
    fields = result.fields()
    assert (fields["jbi_configuration"], fields["configuration_inferred"]) == ("1-2", True)
    assert "axle_configuration" not in fields  # the vehicle point's tag
    tridem = vehicle([6000, 8000, 8000, 8000, 7000, 7000], None, groups=[1, 3, 2])
    assert judge(tridem, _odol(), "I", JBI, ROADS).axle_configuration == "1-2.2.2-2.2"
    reported = judge(vehicle([6000, 11_000], "1-2"), _odol(), "I", JBI, ROADS)
    assert reported.configuration_inferred is None


def test_unknown_axle_configuration_is_unknown_not_ok() -> None:
    no_tyres = vehicle([4000, 8000], None, groups=[1, 1])
    result = judge(no_tyres, _odol(check_axles=True, infer_tyres=False), "I", JBI, ROADS)
    assert (result.verdict, result.verdict_reason, result.jbi_kg, result.overloaded) == (
        "unknown",
        "axle_configuration_unknown",
        None,
        None,
    )
    # an axle over MST is a violation whatever the configuration
    no_inference = _odol(check_axles=True, infer_tyres=False)
    heavy = judge(vehicle([4000, 12_000], None, groups=[1, 1]), no_inference, "I", JBI, ROADS)
    assert heavy.verdict == "violation"


@pytest.mark.parametrize(
    ("configuration", "road", "reason"),
    [("1-2-2-2", "I", "not_in_jbi_table"), ("1-2", None, "road_class_unknown")],
)
def test_other_unknowns(configuration: str, road: str | None, reason: str) -> None:
    loads = _spread(20_000, configuration)
    result = judge(vehicle(loads, configuration), _odol(), road, JBI, ROADS)  # type: ignore[arg-type]
    assert (result.verdict, result.verdict_reason) == ("unknown", reason)


def test_a_bad_record_is_not_judged() -> None:
    truck = vehicle([4000, 30_000], "1-2").model_copy(
        update={"quality": Quality.BAD, "reason": "device_error"}
    )
    assert judge(truck, _odol(), "I", JBI, ROADS).verdict == "unknown"


def test_rule_overrides_the_tables() -> None:
    custom = _odol(
        jbi={"1-2": {10000: 18000}},
        road_classes={"I": {"width_mm": 2500, "length_mm": 18000, "height_mm": 4200, "mst_kg": 10000}},
    )
    eng = engine({**ODOL, "jbi": custom.jbi, "road_classes": {"I": custom.road_classes["I"].model_dump()}})
    result = eng.on_vehicle(vehicle([6000, 11_000], "1-2"), T0)
    assert result.verdict is not None and result.verdict.jbi_kg == 18_000 and result.verdict.verdict == "ok"


def test_esal_is_the_fourth_power_law() -> None:
    result = judge(vehicle([STANDARD_AXLE_KG, 2 * STANDARD_AXLE_KG], "1-2"), _odol(), "I", JBI, ROADS)
    assert result.esal == pytest.approx(1 + 16)


def test_verdict_fields_for_storage() -> None:
    eng = engine({"id": "odol", "kind": "odol"})
    result = eng.on_vehicle(vehicle([7000, 16_000, 16_000], "1-2.2", record_id="r1"), T0)
    fields = result.fields()
    assert fields["verdict"] == "violation" and fields["overloaded"] is True
    assert fields["jbi_kg"] == 22_000.0 and fields["excess_kg"] == 17_000.0
    assert fields["excess_pct"] == pytest.approx(77.273) and fields["band"] == "sanksi-tol"
    assert fields["axle_overloaded"] is True and fields["road_class"] == "I"
    assert "over_dimension" not in fields  # no dimensions measured: left out, not stored as null
    assert all(isinstance(v, float | int | str | bool) for v in fields.values())


def test_the_odol_alert_counts_violations_in_its_window() -> None:
    eng = engine(
        {
            "id": "odol",
            "kind": "odol",
            "alert_window": "1h",
            "alert_min_band": "turun-muatan",
            "levels": [{"name": "ODOL", "trigger": 1}, {"name": "ODOL banyak", "trigger": 3, "clear": 2.5}],
        }
    )
    minute = timedelta(minutes=1)
    ok = eng.on_vehicle(vehicle([5000, 9000], "1-2", T0), T0)
    assert ok.transitions == []
    mild = eng.on_vehicle(vehicle([5000, 9000], "1-2", T0 + minute, gvw=20_000), T0 + minute)
    assert mild.transitions == [] and mild.verdict is not None and mild.verdict.band == "pelanggaran"
    heavy = [vehicle([9000, 18_000, 18_000], "1-2.2", T0 + k * minute, record_id=f"r{k}") for k in (2, 3, 4)]
    first = eng.on_vehicle(heavy[0], heavy[0].ts)
    assert [(t.state, t.level, t.value) for t in first.transitions] == [("firing", "ODOL", 1.0)]
    assert first.transitions[0].alert_id == "odol:soekarno-hatta-km13:wim-1"
    assert "r2" in first.transitions[0].message
    again = eng.on_vehicle(heavy[0], heavy[0].ts + timedelta(seconds=1))  # re-delivered: not counted twice
    assert again.transitions == []
    eng.on_vehicle(heavy[1], heavy[1].ts)
    third = eng.on_vehicle(heavy[2], heavy[2].ts)
    assert [(t.state, t.level) for t in third.transitions] == [("firing", "ODOL banyak")]
    assert eng.tick(T0 + timedelta(minutes=61, seconds=59)) == []
    down = eng.tick(
        T0 + timedelta(minutes=62)
    )  # r2 left the (now - 1 h, now] window: 2 is below the clear 2.5
    assert [(t.state, t.level) for t in down] == [("firing", "ODOL")]
    assert eng.tick(T0 + timedelta(minutes=63)) == []
    gone = eng.tick(T0 + timedelta(minutes=64))
    assert [(t.state, t.level) for t in gone] == [("resolved", "Normal")]
