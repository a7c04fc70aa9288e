"""The live page under a public-flood-map configuration (only inventory and latest values are public): it
shows what it may read and asks for a key; a read key typed into its form unlocks the rest."""

from __future__ import annotations

from pathlib import Path

from backend.api.app import create_app
from tests.backend.api.conftest import KEYS, api_config, serve
from tests.backend.api.page.chromium import chromium, navigate
from tests.backend.api.page.conftest import RIVER, Live
from tests.backend.api.page.facts import PAGE_FACTS, POPULATED

SHOWS_PUBLIC_DATA = """(() => document.body.dataset.state === "live"
  && document.querySelectorAll("#sites li.site[data-has-data=true]").length >= 1
  && !document.getElementById("key-form").hidden)()"""


async def test_the_page_asks_for_a_key_and_shows_everything_with_it(live: Live, tmp_path: Path) -> None:
    settings = api_config(public=["health", "inventory", "latest"])
    app = create_app(settings, live.storage, live.worker.inventory, live.worker.rules)
    async with serve(app) as url, chromium(tmp_path / "chromium" / "profile") as tab:
        await navigate(tab, url + "/")
        await tab.wait_for(SHOWS_PUBLIC_DATA, timeout=30, what="public data and the key form")
        before = await tab.evaluate(PAGE_FACTS)
        locked = await tab.evaluate("document.body.dataset.locked")

        await tab.evaluate(
            f"""document.getElementById("key-input").value = {KEYS["read"]!r};
                document.getElementById("key-form").requestSubmit()"""
        )
        await tab.wait_for(POPULATED, timeout=30, what="everything once the key is given")
        after = await tab.evaluate(PAGE_FACTS)
        stored = await tab.evaluate("localStorage.getItem('pantau.key')")
        hidden = await tab.evaluate("document.getElementById('key-form').hidden")
        # The page's own failed reads (401) are what the browser logs; nothing else went wrong.
        errors = [e for e in tab.errors if "401" not in e]

    assert errors == [], errors
    # Without a key: the sites and their latest values, but no charts, trucks or alerts.
    river = next(s for s in before["sites"] if s["site"] == RIVER)
    assert river["data"] and "wl-radar/level" in river["text"]
    assert not before["trucks"] and not before["alerts"]
    assert all(chart["points"] == 0 for chart in before["charts"])
    assert {"alerts", "charts"} <= set(locked.split()), locked
    assert "need an API key" in before["status"]
    # With it: everything, and the key kept for the next visit.
    assert after["trucks"] and after["alerts"] and all(c["points"] > 0 for c in after["charts"])
    assert after["status"].startswith("live") and "need an API key" not in after["status"]
    assert stored == KEYS["read"] and hidden is True
