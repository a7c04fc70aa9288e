"""Line-oriented ASCII record streams: WIM controllers' vehicle records and weighbridge weight streams,
over RS-232 or TCP. The record format is configuration (a `pantau.profiles.records.profile.RecordProfile`),
and so is where a stream comes from (`pantau.site.connections`); see README.md.

    profile = load_yaml_model(Path("firmware_configs/profiles/generic-wim-csv.yaml"), RecordProfile)
    stream = RecordStream(profile, TcpEndpoint(kind="tcp", host="10.0.0.7", port=4001), name="wim-1")
    await stream.run(on_record)          # VehicleRecord -> record.to_message(site=..., ...) -> publish

The face is lazy (pantau.face): a name imports its module when first used, so what proves a profile's
examples against its parser (`pantau gateway check`, drivers.profiles) does not load the stream and its
serial port library.
"""

from typing import TYPE_CHECKING, Final

from pantau.face import lazy_face

if TYPE_CHECKING:
    from drivers.serial_records.encoder import encode_record, encode_weight_frame
    from drivers.serial_records.errors import (
        ChecksumMismatch,
        MalformedRecord,
        SerialRecordsError,
        UnencodableRecord,
        UnsupportedFormat,
    )
    from drivers.serial_records.framing import BadFrame, Frame, make_framer
    from drivers.serial_records.parser import RecordParser
    from drivers.serial_records.records import VehicleRecord
    from drivers.serial_records.rejects import Reject, printable
    from drivers.serial_records.stream import (
        MalformedReport,
        RecordSink,
        RecordStream,
        RejectSink,
        StreamCounters,
    )
    from drivers.serial_records.weighbridge import SampleParser, Weighbridge, WeightSample

__all__ = [
    "BadFrame",
    "ChecksumMismatch",
    "Frame",
    "MalformedRecord",
    "MalformedReport",
    "RecordParser",
    "RecordSink",
    "RecordStream",
    "Reject",
    "RejectSink",
    "SampleParser",
    "SerialRecordsError",
    "StreamCounters",
    "UnencodableRecord",
    "UnsupportedFormat",
    "VehicleRecord",
    "Weighbridge",
    "WeightSample",
    "encode_record",
    "encode_weight_frame",
    "make_framer",
    "printable",
]

#: Where each name of the face lives (module of this package -> its names).
_HOMES: Final = {
    "encoder": ("encode_record", "encode_weight_frame"),
    "errors": (
        "ChecksumMismatch",
        "MalformedRecord",
        "SerialRecordsError",
        "UnencodableRecord",
        "UnsupportedFormat",
    ),
    "framing": ("BadFrame", "Frame", "make_framer"),
    "parser": ("RecordParser",),
    "records": ("VehicleRecord",),
    "rejects": ("Reject", "printable"),
    "stream": ("MalformedReport", "RecordSink", "RecordStream", "RejectSink", "StreamCounters"),
    "weighbridge": ("SampleParser", "Weighbridge", "WeightSample"),
}

if not TYPE_CHECKING:
    __getattr__ = lazy_face(__name__, _HOMES)
