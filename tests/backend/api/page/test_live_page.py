"""The live page in headless Chromium against a running backend: sites, map, charts with alert bands,
trucks with verdicts, active alerts and gateway health render with the data the backend ingested; a
screenshot of the populated page is saved to the artifacts folder."""

from __future__ import annotations

from pathlib import Path

from tests.backend.api.page.chromium import chromium
from tests.backend.api.page.conftest import ARTIFACTS, MINUTES, REJECTED, RIVER, ROAD, Live
from tests.backend.api.page.facts import load, png_size


async def test_live_page_renders_the_backend_data(live: Live, tmp_path: Path) -> None:
    async with chromium(tmp_path / "chromium" / "profile") as tab:
        facts = await load(tab, live.url + "/")
        shot = await tab.screenshot(ARTIFACTS / "live-page.png")
        errors = list(tab.errors)

    assert errors == [], errors
    assert facts["status"].startswith("live")
    # Both sites of the inventory, both with data; the river site marked by its alert on the map.
    assert {s["site"] for s in facts["sites"]} == {RIVER, ROAD}
    assert all(s["data"] for s in facts["sites"]), facts["sites"]
    river = next(s for s in facts["sites"] if s["site"] == RIVER)
    assert "Siaga" in river["text"], river
    markers = {m["site"]: m["severity"] for m in facts["markers"]}
    assert int(markers[RIVER]) >= 2, markers  # Siaga III (severity 2) or worse
    assert markers[ROAD] != "none", markers
    # One chart per water-level channel, each with the six hours of 1-minute means and its alert bands.
    charts = {c["series"]: c for c in facts["charts"]}
    assert set(charts) == {f"{RIVER}/wl-radar/level", f"{RIVER}/wl-pressure/level"}
    for chart in charts.values():
        assert chart["points"] >= MINUTES - 10, chart
        assert {"Siaga IV", "Siaga III"} <= set(chart["bands"]), chart
        assert chart["width"] > 200, chart
    # The newest trucks with their verdicts, violations among them (half the generated trucks overload).
    assert len(facts["trucks"]) == 12
    assert "violation" in facts["trucks"], facts["trucks"]
    assert "none" not in facts["trucks"], "a truck shown without the rules engine's verdict"
    assert any("ampal-muka-air" in row and "Siaga" in row for row in facts["alerts"]), facts["alerts"]
    gateways = {g["gateway"]: g["devices"] for g in facts["gateways"]}
    assert set(gateways) == {"gw-ampal-mufakat", "gw-sh-km13"}
    assert "rain: failing" in gateways["gw-ampal-mufakat"], gateways
    assert "wl-radar: ok" in gateways["gw-ampal-mufakat"], gateways
    assert f"wim-1: ok · {REJECTED} rejected" in gateways["gw-sh-km13"], gateways  # issue 21
    assert png_size(shot) == (1440, png_size(shot)[1]) and png_size(shot)[1] >= 900
