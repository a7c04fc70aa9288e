"""What the page tests read off the live page: DOM queries run in the page over CDP."""

from __future__ import annotations

import struct
from typing import Any

from tests.backend.api.page.chromium import Tab, navigate

#: Everything the test reads off the page, in one evaluation.
PAGE_FACTS = """(() => {
  const all = (q) => [...document.querySelectorAll(q)];
  return {
    state: document.body.dataset.state,
    status: document.getElementById("status").textContent,
    sites: all("#sites li.site").map((li) => ({site: li.dataset.site, data: li.dataset.hasData === "true",
                                              text: li.textContent})),
    markers: all("#map circle.site").map((c) => ({site: c.parentNode.dataset.site,
                                                  severity: c.dataset.severity})),
    charts: all("#charts figure.chart").map((f) => ({series: f.dataset.series,
        caption: f.querySelector("figcaption").textContent,
        points: Number(f.querySelector("path.line").dataset.points),
        bands: [...f.querySelectorAll("rect.band")].map((r) => r.dataset.level),
        width: f.querySelector("svg").getBoundingClientRect().width})),
    trucks: all("#trucks tbody tr").map((tr) => tr.dataset.verdict),
    truckRows: all("#trucks tbody tr").map((tr) => tr.textContent),
    alerts: all("#alerts tbody tr").map((tr) => tr.textContent),
    gateways: all("#gateways > li").map((li) => ({gateway: li.dataset.gateway,
        devices: [...li.querySelectorAll("li[data-device]")].map((d) => d.textContent)})),
  };
})()"""

#: Sites with data, level charts with points and bands, trucks: what the page shows once data flows.
SHOWING_DATA = """(() => document.body.dataset.state === "live"
  && document.querySelectorAll("#sites li.site[data-has-data=true]").length >= 2
  && [...document.querySelectorAll("#charts path.line")].some((p) => Number(p.dataset.points) > 0)
  && document.querySelectorAll("#charts rect.band").length > 0
  && document.querySelectorAll("#trucks tbody tr").length > 0)()"""

#: All of it, alerts and device states included.
POPULATED = """(() => document.body.dataset.state === "live"
  && document.querySelectorAll("#sites li.site[data-has-data=true]").length >= 2
  && [...document.querySelectorAll("#charts path.line")].some((p) => Number(p.dataset.points) > 0)
  && document.querySelectorAll("#charts rect.band").length > 0
  && document.querySelectorAll("#trucks tbody tr").length > 0
  && document.querySelectorAll("#alerts tbody tr").length > 0
  && document.querySelectorAll("#gateways li[data-device]").length > 0)()"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def load(tab: Tab, url: str, ready: str = POPULATED) -> dict[str, Any]:
    """Open the page, wait until `ready` holds, and read everything off it."""
    await navigate(tab, url)
    await tab.wait_for(ready, timeout=60, what="the page to show sites, charts, trucks and alerts")
    facts: dict[str, Any] = await tab.evaluate(PAGE_FACTS)
    return facts
