"""A simulated WIM controller or weighbridge indicator: frames in the profile's own format, sent to every
listener on a TCP port (as a serial device server does) or written down a virtual serial cable."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drivers.serial_records.encoder import encode_record, encode_weight_frame
from drivers.serial_records.records import VehicleRecord
from drivers.sim.traffic import TrafficGenerator
from pantau.profiles.records.layouts import FixedLayout, WeightStatus
from pantau.profiles.records.profile import RecordProfile

FRAME_RATE_HZ = 10.0  # R320 automatic output


@dataclass
class RecordFaults:
    garbage_every: int = 0  # a burst of line noise after every Nth frame
    #: The first burst after this frame, then every Nth from it (0: the Nth): a line that picks up noise
    #: once a minute still shows it in the first seconds of a demo.
    garbage_first: int = 0
    _frames: int = 0

    def noise(self) -> bytes:
        self._frames += 1
        first = self.garbage_first or self.garbage_every
        if self.garbage_every and self._frames >= first and (self._frames - first) % self.garbage_every == 0:
            return b"\x00\xff#@!~\r\n"
        return b""


class SimulatedRecordDevice:
    """Produces the byte stream of a record-stream device from simulated traffic."""

    def __init__(
        self,
        profile: RecordProfile,
        traffic: TrafficGenerator,
        *,
        truck_every: timedelta = timedelta(seconds=20),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        faults: RecordFaults | None = None,
    ) -> None:
        self.profile = profile
        self.traffic = traffic
        self.truck_every = truck_every.total_seconds()
        self.clock = clock
        self.faults = faults or RecordFaults()

    async def frames(self) -> AsyncIterator[bytes]:
        """Frames forever, paced in real time."""
        if self.profile.source == "weighbridge":
            async for frame in self._weighbridge():
                yield frame + self.faults.noise()
            return
        while True:
            await asyncio.sleep(self.truck_every)
            record = self._fitted(self.traffic.truck(self.clock()))
            yield encode_record(record, self.profile) + self.faults.noise()

    def _fitted(self, record: VehicleRecord) -> VehicleRecord:
        """The traffic's record as this controller prints it: its class as the controller's own code where
        the profile maps codes (the traffic names classes by JBI configuration; a class that does not fit
        a fixed column prints blank), and its record id (`20261203-000001`) cut to a fixed layout's column
        as a controller's counter prints it."""
        update: dict[str, str | None] = {}
        classes = self.profile.values.classes
        if classes and record.vehicle_class is not None:
            codes = (code for code, known in classes.items() if known.configuration == record.vehicle_class)
            update["vehicle_class"] = next(codes, None)
        layout = self.profile.format
        if isinstance(layout, FixedLayout):
            widths = {s.name: s.width for s in layout.fields if s.width}
            if record.record_id is not None and "record_id" in widths:
                update["record_id"] = record.record_id.replace("-", "")[-widths["record_id"] :]
            printed_class = update.get("vehicle_class", record.vehicle_class)
            if printed_class is not None and len(printed_class) > widths.get("vehicle_class", 0):
                update["vehicle_class"] = None  # no code of this controller's known: printed blank
        return record.model_copy(update=update) if update else record

    async def _weighbridge(self) -> AsyncIterator[bytes]:
        period = 1 / FRAME_RATE_HZ
        while True:
            truck = self.traffic.truck(self.clock())
            # empty deck, drive on (motion), stand still, drive off (motion)
            phases: list[tuple[float, WeightStatus, float]] = [
                (0.0, WeightStatus.GROSS, max(self.truck_every - 6.0, 1.0)),
                (truck.gvw_kg * 0.6, WeightStatus.MOTION, 1.5),
                (truck.gvw_kg, WeightStatus.GROSS, 3.0),
                (truck.gvw_kg * 0.4, WeightStatus.MOTION, 1.5),
            ]
            for weight, status, seconds in phases:
                for _ in range(max(1, round(seconds * FRAME_RATE_HZ))):
                    yield encode_weight_frame(round(weight, -1), status, self.profile)
                    await asyncio.sleep(period)


async def serve_tcp(device: SimulatedRecordDevice, host: str, port: int) -> None:
    """Send the stream to every client that connects, until cancelled."""
    clients: set[asyncio.StreamWriter] = set()

    async def on_client(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.add(writer)

    server = await asyncio.start_server(on_client, host, port)
    try:
        async with server:
            await _broadcast(device, clients)
    finally:
        for writer in clients:
            writer.close()


async def _broadcast(device: SimulatedRecordDevice, clients: set[asyncio.StreamWriter]) -> None:
    async for frame in device.frames():
        for writer in list(clients):
            if writer.is_closing():
                clients.discard(writer)
                continue
            writer.write(frame)
            with contextlib.suppress(ConnectionError):
                await writer.drain()


async def serve_serial(device: SimulatedRecordDevice, port: Path) -> None:
    """Write the stream to a serial port (the device end of a VirtualCable), until cancelled."""
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        async for frame in device.frames():
            os.write(fd, frame)
    finally:
        os.close(fd)
