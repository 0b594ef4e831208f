"""Heart Rate Measurement (0x2A37) of the Heart Rate Service (0x180D), HRS v1.0 §3.1.

Layout (ftms-notes §8): ``Flags(u8)``, heart rate (uint8, or uint16 with flags bit 0), Energy
Expended (uint16 kJ, flags bit 3), then RR-Intervals (uint16 at 1/1024 s, flags bit 4) up to the
end. Sans-IO: bytes in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocols import BuildError, BytesLike, ProtocolError
from protocols.ftms._codec import to_raw
from protocols.ftms.uuids import uuid16

HEART_RATE_SERVICE_UUID: Final = uuid16(0x180D)
HEART_RATE_MEASUREMENT_UUID: Final = uuid16(0x2A37)

CHARACTERISTIC: Final = "2A37 Heart Rate Measurement"

_HR_UINT16: Final = 0x01
_CONTACT_DETECTED: Final = 0x02
_CONTACT_SUPPORTED: Final = 0x04
_ENERGY_PRESENT: Final = 0x08
_RR_PRESENT: Final = 0x10
_RR_RESOLUTION: Final = 1024


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One Heart Rate Measurement (HRS v1.0 §3.1.1).

    ``bpm``: heart rate in beats per minute. ``contact_detected``: ``None`` when the sensor does
    not report contact, else whether skin contact is detected. ``energy_expended_kj``: kJ since
    the last reset, ``None`` when absent. ``rr_intervals_s``: RR intervals in seconds, oldest
    first, at 1/1024 s resolution.
    """

    bpm: int
    contact_detected: bool | None = None
    energy_expended_kj: int | None = None
    rr_intervals_s: tuple[float, ...] = ()


def parse_heart_rate_measurement(data: BytesLike) -> HeartRateMeasurement:
    """Read one Heart Rate Measurement notification; raises only :class:`ProtocolError`.

    A trailing odd byte after the RR intervals is ignored (it cannot be an interval).
    """
    data = bytes(data)
    n = len(data)
    if n < 2:
        raise ProtocolError(
            "need the flags and a heart rate", characteristic=CHARACTERISTIC, data=data
        )
    flags = data[0]
    if flags & _HR_UINT16:
        if n < 3:
            raise ProtocolError(
                "uint16 heart rate cut short", characteristic=CHARACTERISTIC, data=data, offset=1
            )
        bpm = data[1] | data[2] << 8
        offset = 3
    else:
        bpm = data[1]
        offset = 2
    contact = bool(flags & _CONTACT_DETECTED) if flags & _CONTACT_SUPPORTED else None
    energy: int | None = None
    if flags & _ENERGY_PRESENT:
        if n < offset + 2:
            raise ProtocolError(
                "Energy Expended cut short", characteristic=CHARACTERISTIC, data=data, offset=offset
            )
        energy = data[offset] | data[offset + 1] << 8
        offset += 2
    rr: tuple[float, ...] = ()
    if flags & _RR_PRESENT:
        rr = tuple((data[i] | data[i + 1] << 8) / _RR_RESOLUTION for i in range(offset, n - 1, 2))
    return HeartRateMeasurement(bpm, contact, energy, rr)


def build_heart_rate_measurement(measurement: HeartRateMeasurement) -> bytes:
    """Encode a Heart Rate Measurement; raises :class:`BuildError` for unencodable values.

    The heart rate is sent as uint8 when it fits, else as uint16. RR intervals are rounded to
    1/1024 s; each must be 0..63.999 s.
    """
    if not isinstance(measurement.rr_intervals_s, tuple | list):
        raise BuildError("must be a tuple of seconds", field="rr_intervals_s")
    bpm = to_raw("bpm", measurement.bpm, 1, "H", unit=" bpm")
    flags = 0
    out = bytearray()
    if bpm > 0xFF:
        flags |= _HR_UINT16
        out += bpm.to_bytes(2, "little")
    else:
        out.append(bpm)
    if measurement.contact_detected is not None:
        flags |= _CONTACT_SUPPORTED | (_CONTACT_DETECTED if measurement.contact_detected else 0)
    if measurement.energy_expended_kj is not None:
        flags |= _ENERGY_PRESENT
        energy = to_raw("energy_expended_kj", measurement.energy_expended_kj, 1, "H", unit=" kJ")
        out += energy.to_bytes(2, "little")
    if measurement.rr_intervals_s:
        flags |= _RR_PRESENT
        for rr in measurement.rr_intervals_s:
            raw = to_raw("rr_intervals_s", rr, _RR_RESOLUTION, "H", unit=" s")
            out += raw.to_bytes(2, "little")
    return bytes((flags,)) + bytes(out)


__all__ = [
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "HeartRateMeasurement",
    "build_heart_rate_measurement",
    "parse_heart_rate_measurement",
]
