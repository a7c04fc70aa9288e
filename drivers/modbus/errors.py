"""What can go wrong on a Modbus bus, with words a technician can act on.

BusError
 ├── RequestTimeout       no valid reply in time (a silent device, or one answering too late)
 ├── CrcError             a reply of the right shape whose CRC is wrong (noise, termination, baud rate)
 ├── ExceptionResponse    the device answered with a Modbus exception code
 ├── FramingError         a reply that does not fit the request (wrong length)
 └── TransportError       cannot open/keep the port or connection; the bus reconnects with back-off
"""

from __future__ import annotations

from typing import Final

from pantau.contract import Reason


class BusError(Exception):
    """A request on the bus failed; `reason` is the contract reason code for the affected channels."""

    reason = "bus"


class RequestTimeout(BusError):
    reason = "timeout"


class CrcError(BusError):
    reason = "crc"


class FramingError(BusError):
    reason = "framing"


class TransportError(BusError):
    reason = "connection"


class ExceptionResponse(BusError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:  # type: ignore[override]
        return Reason.modbus_exception(self.code)


#: Modbus exception codes as the Modbus Application Protocol v1.1b3 (section 7) names them.
EXCEPTION_NAMES: Final = {
    1: "illegal function: the device does not support this function code",
    2: "illegal data address: the device does not map these registers",
    3: "illegal data value: the device refuses this register count",
    4: "server device failure",
    5: "acknowledge: the device is busy with a long command",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable: the Modbus gateway has no route to this unit",
    11: "gateway target device failed to respond: the gateway got no reply from the unit behind it",
}


def describe_exception(code: int) -> str:
    """`exception 11 (gateway target device failed to respond: ...)` for messages and channel details."""
    name = EXCEPTION_NAMES.get(code)
    return f"exception {code} ({name})" if name else f"exception {code} (not a standard Modbus code)"


#: What to check when a serial unit stays silent, in the order a technician should check it.
SILENT_UNIT_HINT: Final = "check the unit id, baud rate and parity, A/B wiring (swap them) and termination"
