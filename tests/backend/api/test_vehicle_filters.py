"""Vehicle filters read class codes as the gateway publishes them (pantau/contract/vehicle_class.py)."""

from __future__ import annotations

import pytest

from backend.api.routes.vehicles import VehicleFilters


@pytest.mark.parametrize(
    ("asked", "matched"),
    [("08", "8"), ("008", "8"), ("8", "8"), ("0", "0"), ("6B", "6B"), ("1-2.2", "1-2.2")],
)
def test_a_class_filter_finds_the_class_however_its_code_is_written(asked: str, matched: str) -> None:
    assert VehicleFilters.model_validate({"vehicle_class": [asked]}).vehicle_class == [matched]
