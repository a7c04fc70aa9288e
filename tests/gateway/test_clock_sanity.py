"""Issue 21, defect 1 on the gateway: it knows when its own wall clock is implausible (before the release,
or just stepped) and says so in each reading's quality and in its status. Time is the kit's VirtualClock;
the devices are a real pymodbus server and the outbox and publisher the gateway's own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.modbus.bus import ModbusBus
from drivers.modbus.device import ModbusDevice
from drivers.sim.modbus_device import SimulatedModbusDevice, constant_signal
from gateway.clock_sanity import RELEASED, SETTLE, STEP_BOUND, ClockSanity
from gateway.metrics import GatewayCollector
from gateway.outbox import Builder, Outbox
from gateway.prometheus import render
from gateway.publisher import Identity, Publisher
from gateway.runtime import Gateway, RuntimeOptions
from gateway.scheduler import BusPoller, ScheduledDevice
from pantau.contract import GatewayStatus, Quality, Reading, Readings, Topics, Vehicle, decode, encode
from pantau.contract.examples import example_messages
from pantau.resilience import VirtualClock
from pantau.site.config import DeviceConfig, MqttConfig, load_site
from pantau.site.connections import BusTiming, TcpBusConfig
from tests.gateway.test_memory_week import site_file
from tests.harness.modbus import ModbusServerFactory, shipped_modbus_profile
from tests.harness.mosquitto import Mosquitto

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
#: A Raspberry Pi without an RTC, booted at its fake-hwclock time from a year before the release.
BOOTED_IN_THE_PAST = datetime(2025, 11, 1, tzinfo=UTC)


def test_a_clock_before_the_release_is_implausible_and_marks_readings() -> None:
    sanity = ClockSanity(VirtualClock(BOOTED_IN_THE_PAST))
    verdict = sanity.check()
    assert (verdict.plausible, verdict.reason, verdict.not_before) == (
        False,
        "clock_before_release",
        RELEASED,
    )
    channels = {
        "level": Reading(value=1.25, unit="m"),
        "distance": Reading(value=4.9, unit="m", quality=Quality.SUSPECT, reason="spike"),
        "signal_quality": Reading.missing("timeout"),
    }
    marked = sanity.readings(channels, verdict)
    assert marked["level"].quality is Quality.CLOCK_SKEW and marked["level"].value == 1.25
    assert marked["level"].reason == "clock_before_release"
    assert marked["distance"].quality is Quality.CLOCK_SKEW
    assert "was suspect (spike)" in (marked["distance"].detail or "")
    assert marked["signal_quality"] == channels["signal_quality"]  # nothing to date


def test_a_vehicle_weighed_under_an_implausible_clock_is_marked() -> None:
    vehicle = example_messages()["vehicle"]
    assert isinstance(vehicle, Vehicle)
    sanity = ClockSanity(VirtualClock(BOOTED_IN_THE_PAST))
    marked = sanity.vehicle(vehicle, sanity.check())
    assert (marked.quality, marked.reason, marked.gvw_kg) == (
        Quality.CLOCK_SKEW,
        "clock_before_release",
        vehicle.gvw_kg,
    )
    assert decode(encode(marked)) == marked  # still a valid contract message
    plausible = ClockSanity(VirtualClock(START))
    assert plausible.vehicle(vehicle, plausible.check()) is vehicle


def test_a_clock_after_the_release_is_plausible_and_marks_nothing() -> None:
    sanity = ClockSanity(VirtualClock(START))
    verdict = sanity.check()
    assert verdict.plausible and verdict.reason is None and verdict.step_s is None
    channels = {"level": Reading(value=1.25, unit="m")}
    assert sanity.readings(channels, verdict) is channels


async def test_a_step_marks_data_for_the_settle_time_and_is_reported() -> None:
    clock = VirtualClock(START, quiet_s=0)
    sanity = ClockSanity(clock)
    assert sanity.check().plausible
    await clock.advance(10)
    clock.step_wall(3653 * 86_400)  # a GPS fix gone wrong: ten years ahead
    stepped = sanity.check()
    assert (stepped.plausible, stepped.reason) == (False, "clock_stepped")
    assert stepped.step_s == pytest.approx(3653 * 86_400)
    assert stepped.stepped_at == START + timedelta(days=3653, seconds=10)
    await clock.advance(SETTLE.total_seconds() - 1)
    assert sanity.check().reason == "clock_stepped"
    await clock.advance(2)
    settled = sanity.check()
    assert settled.plausible and settled.step_s == pytest.approx(3653 * 86_400)  # the last step stays told
    await clock.aclose()


@pytest.mark.parametrize(
    ("step_s", "slew", "advance_s", "stepped"),
    [
        (STEP_BOUND.total_seconds() - 0.5, 1.0, 10, False),  # under the bound: jitter, not a step
        (-(STEP_BOUND.total_seconds() + 0.5), 1.0, 10, True),  # back as well as forward
        (0.0, 1.0005, 86_400, False),  # NTP slewing at its 500 ppm limit for a day (43 s) is no step
        (0.0, 1.002, 86_400, True),  # four times that is
    ],
)
async def test_steps_and_slews(step_s: float, slew: float, advance_s: float, stepped: bool) -> None:
    clock = VirtualClock(START, quiet_s=0)
    sanity = ClockSanity(clock)
    sanity.check()
    clock.step_wall(step_s)
    clock.slew(slew)
    await clock.advance(advance_s)
    assert (sanity.check().reason == "clock_stepped") is stepped
    await clock.aclose()


async def test_a_gateway_booted_before_the_release_marks_its_readings_and_says_so_in_its_status(
    modbus_tcp_server: ModbusServerFactory, tmp_path: Path
) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    sim = SimulatedModbusDevice(profile, constant_signal({"level": 1.0, "installation_height": 4.0}))
    server = modbus_tcp_server([sim.sim_device()])
    clock = VirtualClock(BOOTED_IN_THE_PAST)
    sanity = ClockSanity(clock)
    bus = ModbusBus(
        TcpBusConfig(transport="tcp", host=server.host, port=server.port), BusTiming(), clock=clock
    )
    config = DeviceConfig(id="radar", profile="dfrobot-sen0676", poll_interval=timedelta(seconds=10))
    batches: list[list[Builder]] = []

    async def sink(batch: list[Builder]) -> None:
        batches.append(batch)

    poller = BusPoller(
        "bus",
        [ScheduledDevice(config, ModbusDevice(profile, bus, unit_id=1, clock=clock))],
        sink,
        site="s",
        gateway="g",
        topics=Topics(),
        clock=clock,
        clock_sanity=sanity,
    )
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(20):
            while poller.polls_total < 2:
                await asyncio.sleep(0.001)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
        await clock.aclose()
    built = [build(seq + 1) for seq, build in enumerate(b for batch in batches for b in batch)]
    polls = [decode(p, topic=t) for t, p, _r in built if t.endswith("/readings")]
    assert polls and all(isinstance(m, Readings) for m in polls)
    for message in polls:
        assert isinstance(message, Readings)
        level = message.channels["level"]
        assert (level.quality, level.reason, level.value) == (Quality.CLOCK_SKEW, "clock_before_release", 1.0)

    mqtt = MqttConfig(host="127.0.0.1")
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=mqtt.outbox_receipt_window, clock=clock.time)
    publisher = Publisher(mqtt, outbox, Identity("s", "g"), clock=clock, clock_sanity=sanity)
    topic, payload, retain = publisher.online_status()(1)
    # What `pantau gateway status` reads: the same verdict, from the metrics endpoint.
    metrics = render(GatewayCollector(outbox, publisher, [poller]).collect(outbox.state())).decode()
    outbox.close()
    assert 'pantau_clock_plausible{reason="clock_before_release"} 0.0' in metrics
    status = decode(payload, topic=topic)
    assert isinstance(status, GatewayStatus) and retain
    assert status.clock is not None
    assert (status.clock.plausible, status.clock.reason) == (False, "clock_before_release")


async def test_a_gateway_whose_clock_reads_1970_keeps_running_sends_nothing_and_recovers_when_it_is_set(
    modbus_tcp_server: ModbusServerFactory, mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    """An RTC reset to 1970: no time the contract takes can be written, so the gateway drops what it reads
    (counted, logged once) instead of crashing on its first message, and sends again once NTP sets it."""
    profile = shipped_modbus_profile("dfrobot-sen0676")
    sim = SimulatedModbusDevice(profile, constant_signal({"level": 1.0, "installation_height": 4.0}))
    server = modbus_tcp_server([sim.sim_device()])
    path = site_file(tmp_path, mosquitto, server.port, mqtt_topic_root)
    clock = VirtualClock(datetime(1970, 1, 1, 0, 5, tzinfo=UTC), quiet_s=0.0005)
    gateway = Gateway(load_site(path), path, RuntimeOptions(metrics_address=None, clock=clock))
    (poller,) = gateway.pollers
    task = asyncio.create_task(gateway.run())
    try:
        async with asyncio.timeout(30):
            while poller.polls_total < 3:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.005)
            assert gateway.outbox.state().depth == 0 and gateway.publisher.stats.connects_total == 0
            assert gateway.clock_sanity.unstamped >= 3
            clock.step_wall(START.timestamp() - clock.time())  # NTP sets the clock
            while gateway.publisher.stats.published_total < 2:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.005)
        assert gateway.clock_sanity.unstamped == 0
        step = gateway.clock_sanity.check().step_s  # the setting was a step (the data after it marked)
        assert step is not None and step > 56 * 365 * 86_400
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await clock.aclose()
