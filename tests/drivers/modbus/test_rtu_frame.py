"""RTU frames checked against pymodbus' own framer and request encoding (an independent implementation)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, ReadDiscreteInputsRequest
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

from drivers.modbus.rtu import char_time, quiet_time
from drivers.modbus.rtu_frame import crc16, data_bytes, find_frames, read_request, unpack

REQUESTS = {
    1: ReadCoilsRequest,
    2: ReadDiscreteInputsRequest,
    3: ReadHoldingRegistersRequest,
    4: ReadInputRegistersRequest,
}


@given(st.binary(max_size=300))
def test_crc_is_pymodbus_crc(data: bytes) -> None:
    assert crc16(data) == FramerRTU.compute_CRC(data).to_bytes(2, "big")


@given(
    unit=st.integers(0, 247),
    function=st.sampled_from(sorted(REQUESTS)),
    address=st.integers(0, 65535),
    count=st.integers(1, 125),
)
def test_read_requests_are_the_frames_pymodbus_builds(
    unit: int, function: int, address: int, count: int
) -> None:
    pdu = REQUESTS[function](address=address, count=count, dev_id=unit)
    assert read_request(unit, function, address, count) == FramerRTU(DecodePDU(False)).buildFrame(pdu)


def test_reply_sizes_and_unpacking() -> None:
    assert (data_bytes(3, 2), data_bytes(1, 9), data_bytes(2, 8)) == (4, 2, 1)
    assert unpack(3, bytes.fromhex("0929028a"), 2) == [2345, 650]
    assert unpack(1, bytes([0b0000_0101, 0b1]), 9) == [1, 0, 1, 0, 0, 0, 0, 0, 1]


def test_frames_are_found_in_what_the_line_carried() -> None:
    late = bytes.fromhex("01030209290000")[:-2]
    late += crc16(late)
    exception = bytes([7, 0x83, 2])
    exception += crc16(exception)
    frames, noise = find_frames(b"\x00\xff" + late + b"\x13" + exception + late[:-1])
    assert [(f.unit, f.function) for f in frames] == [(1, 3), (7, 3)]
    assert noise == 2 + 1 + len(late) - 1


def test_quiet_time_follows_the_modbus_serial_line_guide_with_a_floor() -> None:
    assert char_time(9600, 8, "E", 1) == 11 / 9600
    assert quiet_time(char_time(1200, 8, "N", 1)) == 3.5 * 10 / 1200  # 29 ms: the 3.5 characters
    assert quiet_time(char_time(115200, 8, "N", 1)) == 0.02  # 1.75 ms above 19200 baud, floored for USB
