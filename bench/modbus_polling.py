"""Modbus polling benchmark: read merging and decode cost for every shipped Modbus profile.

For each profile, side by side against the baseline of one request per channel:
  * requests per full poll (fewest-requests planning, and bus-time planning at the profile's baud rate),
  * estimated RTU bus time per poll (frames, silences, reply delay),
  * measured wall time per poll against a real pymodbus server over TCP loopback,
  * decode CPU time per channel (DeviceDecoder, pure), against bare struct unpacking of the same words.

Run: `make bench` or `python -m bench.modbus_polling`.
"""

from __future__ import annotations

import asyncio
import statistics
import struct
import time
from datetime import timedelta

from drivers.modbus.bus import ModbusBus
from drivers.modbus.decoder import DeviceDecoder, RawResult
from drivers.modbus.device import Caution, ModbusDevice
from drivers.modbus.encoder import channel_words
from drivers.modbus.planner import CostModel, plan_cost
from drivers.profiles import load_profile
from drivers.sim.device_signals import profile_signal
from drivers.sim.modbus_device import SimulatedModbusDevice
from drivers.sim.server import tcp_server
from drivers.sim.signals import RiverScenario
from pantau.profiles.files import shipped_profiles
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.site.connections import BusTiming, TcpBusConfig
from tests.harness.process import free_port

POLLS = 40
DECODE_ROUNDS = 2000
PARAMS = {"mounting_height_m": 6.0, "datum_m": -0.3}


def modbus_profiles() -> list[ModbusProfile]:
    return [p for p in (load_profile(path) for path in shipped_profiles()) if isinstance(p, ModbusProfile)]


async def measure_polls(profile: ModbusProfile, caution: Caution) -> tuple[int, float]:
    """(requests per poll, median seconds per poll) against a real pymodbus TCP server."""
    # A device that reads unmapped holes as 0 (most do): the merged plan is what goes on the wire.
    sim = SimulatedModbusDevice(profile, profile_signal(profile, RiverScenario(), PARAMS), fill_gaps=125)
    port = free_port()
    server = tcp_server([sim], "127.0.0.1", port)
    await server.serve_forever(background=True)
    config = TcpBusConfig(transport="tcp", host="127.0.0.1", port=port)
    bus = ModbusBus(config, BusTiming(inter_frame_delay=timedelta(0)))
    device = ModbusDevice(profile, bus, unit_id=sim.unit_id, params=PARAMS, caution=caution)
    try:
        await device.poll()  # warm up; lets a device that rejects merged reads settle on its plan
        durations, requests = [], 0
        for _ in range(POLLS):
            started = time.perf_counter()
            result = await device.poll()
            durations.append(time.perf_counter() - started)
            requests = result.requests
        return requests, statistics.median(durations)
    finally:
        await bus.close()
        await server.shutdown()


def decode_cost(profile: ModbusProfile) -> tuple[float, float]:
    """(µs per channel through DeviceDecoder, µs per channel for bare struct.unpack of the same words)."""
    sim = SimulatedModbusDevice(profile, profile_signal(profile, RiverScenario(), PARAMS))
    values = sim.values()
    raw: dict[str, RawResult] = {s.id: channel_words(s, values[s.id], values) for s in profile.channels}
    decoder = DeviceDecoder(profile, PARAMS)
    channels = len(profile.channels) + len(profile.derived)
    started = time.process_time()
    for _ in range(DECODE_ROUNDS):
        decoder.decode(raw)
    ours = (time.process_time() - started) / DECODE_ROUNDS / channels * 1e6
    words = [w for r in raw.values() if isinstance(r, list) for w in r]
    packed = struct.pack(f">{len(words)}H", *words)
    started = time.process_time()
    for _ in range(DECODE_ROUNDS):
        struct.unpack(f">{len(words)}H", packed)
    bare = (time.process_time() - started) / DECODE_ROUNDS / channels * 1e6
    return ours, bare


async def main() -> None:
    header = (
        f"{'profile':<18} {'ch':>3} | {'req/poll':>8} {'per-ch':>6} {'ratio':>6}"
        f" | {'rtu ms':>7} {'per-ch':>7} {'ratio':>6}"
        f" | {'tcp ms':>7} {'per-ch':>7} {'ratio':>6} | {'decode µs/ch':>12} {'bare':>6}"
    )
    print(header)
    print("-" * len(header))
    for profile in modbus_profiles():
        # Planning needs no bus: a device object without one is enough to ask for its plan.
        no_bus: ModbusBus = None  # type: ignore[assignment]
        merged = ModbusDevice(profile, no_bus, unit_id=1)
        single = ModbusDevice(profile, no_bus, unit_id=1, caution=Caution.ONE_PER_CHANNEL)
        rtu = CostModel.rtu(profile.serial.baudrate, profile.reply_delay.total_seconds())
        rtu_device = ModbusDevice(profile, no_bus, unit_id=1, costs=rtu)
        rtu_ms, rtu_single_ms = plan_cost(rtu_device.plan(), rtu) * 1e3, plan_cost(single.plan(), rtu) * 1e3
        (tcp_requests, tcp_s), (tcp_single_requests, tcp_single_s) = (
            await measure_polls(profile, Caution.AS_CONFIGURED),
            await measure_polls(profile, Caution.ONE_PER_CHANNEL),
        )
        ours, bare = decode_cost(profile)
        print(
            f"{profile.id:<18} {len(profile.channels):>3} | {len(merged.plan()):>8} {len(single.plan()):>6}"
            f" {len(single.plan()) / len(merged.plan()):>5.1f}x | {rtu_ms:>7.1f} {rtu_single_ms:>7.1f}"
            f" {rtu_single_ms / rtu_ms:>5.1f}x | {tcp_s * 1e3:>7.2f} {tcp_single_s * 1e3:>7.2f}"
            f" {tcp_single_s / tcp_s:>5.1f}x | {ours:>12.2f} {bare:>6.2f}"
            + (
                f"   (tcp: {tcp_requests} req after re-planning)"
                if tcp_requests != len(merged.plan())
                else ""
            )
        )
        assert tcp_single_requests == len(single.plan())
    print(
        "\nreq/poll: requests per full poll, merged vs one per channel."
        "\nrtu ms: estimated bus time at the profile's baud rate and reply delay (bus-time planning)."
        "\ntcp ms: measured median per poll against pymodbus on loopback."
        "\ndecode: DeviceDecoder CPU per channel vs bare struct unpacking of the same words."
    )


if __name__ == "__main__":
    asyncio.run(main())
