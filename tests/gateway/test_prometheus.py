"""The gateway's own Prometheus page (gateway/prometheus.py): read back by prometheus_client's parser, the
one Prometheus itself follows, and served from the event loop to a real HTTP client."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.prometheus import MAX_REQUEST_BYTES, Family, MetricsServer, counter, gauge, render
from tests.harness.process import free_port


def parsed(families: list[Family]) -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    """name -> (type, {sorted labels: value}) as Prometheus reads the page."""
    out = {}
    for family in text_string_to_metric_families(render(families).decode()):
        samples = {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        out[family.name] = (family.type, samples)
    return out


def test_counters_and_gauges_read_back_as_prometheus_reads_them() -> None:
    requests = counter("pantau_device_requests", "Modbus requests per device", labels=("bus", "device"))
    requests.add(("rs485-1", "wl-1"), 12)
    requests.add(("rs485-1", "wl-2"), 0)
    page = parsed([gauge("pantau_outbox_depth", "Messages waiting", value=3), requests])
    assert page["pantau_outbox_depth"] == ("gauge", {(): 3.0})
    # A counter family is named without _total and its sample with it, as prometheus_client writes it.
    assert page["pantau_device_requests"] == (
        "counter",
        {(("bus", "rs485-1"), ("device", "wl-1")): 12.0, (("bus", "rs485-1"), ("device", "wl-2")): 0.0},
    )
    assert "pantau_device_requests_total{" in render([requests]).decode()


def test_label_values_and_help_text_are_escaped() -> None:
    awkward = 'a "quoted" back\\slash\nnew line'
    family = gauge("pantau_clock_plausible", 'help with "quotes", a \\ and\na new line', labels=("reason",))
    family.add((awkward,), 1)
    ((labels, value),) = parsed([family])["pantau_clock_plausible"][1].items()
    assert dict(labels) == {"reason": awkward} and value == 1.0


def test_special_values_are_written_as_prometheus_spells_them() -> None:
    family = gauge("x", "special", labels=("v",))
    for name, value in (("nan", math.nan), ("inf", math.inf), ("minus", -math.inf), ("big", 1.5e300)):
        family.add((name,), value)
    values = {dict(labels)["v"]: v for labels, v in parsed([family])["x"][1].items()}
    assert math.isnan(values["nan"]) and values["inf"] == math.inf and values["minus"] == -math.inf
    assert values["big"] == 1.5e300
    assert "+Inf" in render([family]).decode()


def test_a_sample_with_the_wrong_number_of_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="pantau_x: 1 label values for labels"):
        gauge("pantau_x", "two labels", labels=("bus", "device")).add(("only-one",), 1)


@pytest.fixture
async def served() -> AsyncIterator[str]:
    scrapes = 0

    async def page() -> bytes:
        nonlocal scrapes
        scrapes += 1
        return render([counter("pantau_scrapes", "Scrapes so far", value=scrapes)])

    server = MetricsServer(page)
    port = free_port()
    await server.start("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


@pytest.mark.services  # a listening socket
async def test_the_page_is_served_with_prometheus_content_type(served: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        first = await client.get(f"{served}/metrics")
        second = await client.get(f"{served}/metrics?name[]=x")  # parameters are ignored, as by Prometheus
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "pantau_scrapes_total 1.0" in first.text and "pantau_scrapes_total 2.0" in second.text


@pytest.mark.services
async def test_other_paths_and_methods_are_refused(served: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{served}/admin")).status_code == 404
        refused = await client.post(f"{served}/metrics", content=b"x")
        head = await client.head(f"{served}/metrics")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200 and head.content == b""


@pytest.mark.services
async def test_a_silent_or_oversized_client_does_not_hold_up_a_scrape(served: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    # One client connects and says nothing; another sends an endless header.
    _silent_reader, silent = await asyncio.open_connection(host, int(port))
    flood_reader, flood = await asyncio.open_connection(host, int(port))
    flood.write(b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * (MAX_REQUEST_BYTES * 2))
    await flood.drain()
    async with asyncio.timeout(5):
        answer = await flood_reader.read()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:60]
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{served}/metrics")).status_code == 200
    for writer in (silent, flood):
        writer.close()
