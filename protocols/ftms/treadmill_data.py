"""Treadmill Data (0x2ACD), FTMS v1.0.1 §4.9: parse, build and merge split records.

Field types and resolutions follow ftms-notes §3.1 (the 2017 SIG XML; pace as uint8 0.1 km/min).
Reading is tolerant of what real treadmills send (ftms-notes §3.4, §11.8):

* bit 0 is inverted: 0 means Instantaneous Speed IS present (More Data = 0);
* a record shorter than its flags promise keeps every field read so far and says
  ``truncated=True`` (Matrix: 20-byte notifications instead of split records);
* RFU bit 13 followed by 3 bytes is a vendor step counter (Urevo, CITYSPORTS, KingSmith);
  any other trailing bytes are kept in ``extra``;
* "not available" sentinels read as ``None``, as do the unofficial 0x7FFF/0xFFFF in the unsigned
  elevation fields and a heart rate of 0 (no sensor);
* the pace width (uint8 per the XML, uint16 "s per 500 m" per the newer GSS) is chosen by which
  hypothesis matches the packet length; uint8 wins when both or neither do.

The hot path computes a layout once per flags value and caches it: a record whose length matches
the layout is decoded with a single precompiled :class:`struct.Struct` unpack.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import Final

from protocols import BuildError, BytesLike, ProtocolError
from protocols.ftms._codec import pack_raw, to_raw

CHARACTERISTIC: Final = "2ACD Treadmill Data"

_MORE_DATA: Final = 0x0001
_STEP_COUNT_BIT: Final = 0x2000
_VENDOR_SIZE: Final = 3

# Conversion kinds for _Field.div: > 0 divide the raw integer; 0 keep it as int; -1 uint16 pace in
# seconds per 500 m (GSS reading), converted to km/min so the field has one unit either way.
_KEEP: Final = 0
_PACE_S_PER_500M: Final = -1


@dataclass(frozen=True, kw_only=True)
class TreadmillData:
    """One Treadmill Data record (FTMS v1.0.1 §4.9), in physical units.

    Every value is ``None`` when the flags say it is absent or the device sent the "not available"
    sentinel. Units: speeds km/h, distance m, inclination %, ramp angle degrees, elevation gain m,
    pace km/min, energy kcal (total, per hour, per minute), heart rate bpm, metabolic equivalent
    MET, times s, force N, power W. ``step_count`` comes from the vendor bytes behind RFU bit 13
    (ftms-notes §3.4.1). ``more_data`` is the More Data flag (bit 0, inverted: speed is absent
    when it is set). ``truncated`` says the notification ended before all fields its flags
    promise; ``extra`` keeps trailing bytes no field explains.
    """

    more_data: bool = False
    speed_kmh: float | None = None
    average_speed_kmh: float | None = None
    total_distance_m: int | None = None
    inclination_pct: float | None = None
    ramp_angle_deg: float | None = None
    positive_elevation_gain_m: float | None = None
    negative_elevation_gain_m: float | None = None
    instantaneous_pace_kmpmin: float | None = None
    average_pace_kmpmin: float | None = None
    total_energy_kcal: int | None = None
    energy_per_hour_kcal: int | None = None
    energy_per_minute_kcal: int | None = None
    heart_rate_bpm: int | None = None
    metabolic_equivalent: float | None = None
    elapsed_time_s: int | None = None
    remaining_time_s: int | None = None
    force_on_belt_n: int | None = None
    power_output_w: int | None = None
    step_count: int | None = None
    truncated: bool = False
    extra: bytes = b""


_VALUE_FIELDS: Final = tuple(
    f.name for f in fields(TreadmillData) if f.name not in ("more_data", "truncated", "extra")
)
_DEFAULTS: Final[dict[str, object]] = {f.name: f.default for f in fields(TreadmillData)}
_new = object.__new__


def _record(values: dict[str, object]) -> TreadmillData:
    """A TreadmillData from a complete field dict, bypassing the frozen ``__init__``.

    The parser is the hot path and a frozen dataclass's ``__init__`` assigns its 22 fields one
    ``object.__setattr__`` at a time; filling the instance dict at once is 3-4x faster. The result
    is indistinguishable from a constructed one (same fields, equality, hash, repr).
    """
    record: TreadmillData = _new(TreadmillData)
    record.__dict__.update(values)
    return record


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    wire: str  # struct code, or "T" for uint24
    size: int
    div: int
    na: frozenset[int]  # raw values read as None
    na_out: int | None = None  # the sentinel the builder sends for None (multi-field groups)
    sendable_na: bool = False  # the builder may send a raw value in ``na`` on purpose


_NONE: Final[frozenset[int]] = frozenset()
_NA_S16: Final = frozenset({0x7FFF})
# 0xFFFF is the natural "not available" of a uint16; Life Fitness sends 0x7FFF (ftms-notes §3.4.3).
_NA_ELEVATION: Final = frozenset({0x7FFF, 0xFFFF})


def _pace(name: str) -> _Field:
    return _Field(name, "B", 1, 10, _NONE)


def _pace16(name: str) -> _Field:
    return _Field(name, "H", 2, _PACE_S_PER_500M, frozenset({0}))


# Fields per flag bit, in wire order (ftms-notes §3.1). Bit 0 is handled by its inverted sense.
_GROUPS: Final[tuple[tuple[_Field, ...], ...]] = (
    (_Field("speed_kmh", "H", 2, 100, _NONE),),
    (_Field("average_speed_kmh", "H", 2, 100, _NONE),),
    (_Field("total_distance_m", "T", 3, _KEEP, _NONE),),
    (
        _Field("inclination_pct", "h", 2, 10, _NA_S16, 0x7FFF),
        _Field("ramp_angle_deg", "h", 2, 10, _NA_S16, 0x7FFF),
    ),
    (
        _Field("positive_elevation_gain_m", "H", 2, 10, _NA_ELEVATION, 0xFFFF),
        _Field("negative_elevation_gain_m", "H", 2, 10, _NA_ELEVATION, 0xFFFF),
    ),
    (_pace("instantaneous_pace_kmpmin"),),
    (_pace("average_pace_kmpmin"),),
    (
        _Field("total_energy_kcal", "H", 2, _KEEP, frozenset({0xFFFF}), 0xFFFF),
        _Field("energy_per_hour_kcal", "H", 2, _KEEP, frozenset({0xFFFF}), 0xFFFF),
        _Field("energy_per_minute_kcal", "B", 1, _KEEP, frozenset({0xFF}), 0xFF),
    ),
    # Heart rate 0 is what treadmills send without a sensor (ftms-notes §3.4.3); a virtual
    # treadmill may send it on purpose, so the builder accepts it.
    (_Field("heart_rate_bpm", "B", 1, _KEEP, frozenset({0}), sendable_na=True),),
    (_Field("metabolic_equivalent", "B", 1, 10, _NONE),),
    (_Field("elapsed_time_s", "H", 2, _KEEP, _NONE),),
    (_Field("remaining_time_s", "H", 2, _KEEP, _NONE),),
    (
        _Field("force_on_belt_n", "h", 2, _KEEP, _NA_S16, 0x7FFF),
        _Field("power_output_w", "h", 2, _KEEP, _NA_S16, 0x7FFF),
    ),
)
_PACE16_GROUPS: Final = {
    5: (_pace16("instantaneous_pace_kmpmin"),),
    6: (_pace16("average_pace_kmpmin"),),
}
_STEP_COUNT: Final = _Field("step_count", "T", 3, _KEEP, _NONE)

# A decode op: (name, wide, div, na) with wide=True for a uint24 unpacked as "HB".
_Op = tuple[str, bool, int, frozenset[int]]


@dataclass(frozen=True, slots=True)
class _Layout:
    """Everything about one flags value that does not depend on the packet."""

    more_data: bool
    vendor: bool
    fields8: tuple[_Field, ...]
    fields16: tuple[_Field, ...] | None
    size8: int
    size16: int
    fast_size: int
    fast_struct: struct.Struct
    fast_ops: tuple[_Op, ...]


def _fields_for(flags: int, pace16: bool) -> tuple[_Field, ...]:
    present = flags ^ _MORE_DATA
    out: list[_Field] = []
    for bit, group in enumerate(_GROUPS):
        if present & (1 << bit):
            out.extend(_PACE16_GROUPS[bit] if pace16 and bit in _PACE16_GROUPS else group)
    return tuple(out)


def _make_layout(flags: int) -> _Layout:
    vendor = bool(flags & _STEP_COUNT_BIT)
    fields8 = _fields_for(flags, pace16=False)
    has_pace = bool(flags & 0x0060)
    fields16 = _fields_for(flags, pace16=True) if has_pace else None
    size8 = 2 + sum(f.size for f in fields8)
    size16 = 2 + sum(f.size for f in fields16) if fields16 is not None else size8
    fast_fields = (*fields8, _STEP_COUNT) if vendor else fields8
    fmt = "<" + "".join("HB" if f.wire == "T" else f.wire for f in fast_fields)
    ops = tuple((f.name, f.wire == "T", f.div, f.na) for f in fast_fields)
    return _Layout(
        more_data=bool(flags & _MORE_DATA),
        vendor=vendor,
        fields8=fields8,
        fields16=fields16,
        size8=size8,
        size16=size16,
        fast_size=size8 + (_VENDOR_SIZE if vendor else 0),
        fast_struct=struct.Struct(fmt),
        fast_ops=ops,
    )


_LAYOUTS: dict[int, _Layout] = {}
_LAYOUT_CACHE_MAX: Final = 4096


def _layout(flags: int) -> _Layout:
    layout = _LAYOUTS.get(flags)
    if layout is None:
        if len(_LAYOUTS) >= _LAYOUT_CACHE_MAX:  # bounded: garbage flags must not grow it forever
            _LAYOUTS.clear()
        layout = _LAYOUTS[flags] = _make_layout(flags)
    return layout


def _convert(kw: dict[str, object], name: str, raw: int, div: int, na: frozenset[int]) -> None:
    if raw in na:
        return
    if div > 0:
        kw[name] = raw / div
    elif div == _KEEP:
        kw[name] = raw
    else:
        kw[name] = 30.0 / raw  # seconds per 500 m -> km/min


def parse_treadmill_data(data: BytesLike) -> TreadmillData:
    """Parse one Treadmill Data notification (FTMS v1.0.1 §4.9) into a :class:`TreadmillData`.

    Tolerant as described in the module docstring; raises only :class:`ProtocolError`, and only
    when fewer than the two flag bytes arrive.
    """
    n = len(data)
    if n < 2:
        raise ProtocolError(
            "need at least the 2 flag bytes", characteristic=CHARACTERISTIC, data=bytes(data)
        )
    layout = _layout(data[0] | data[1] << 8)
    kw = _DEFAULTS.copy()
    if n == layout.fast_size:
        raw = layout.fast_struct.unpack_from(data, 2)
        i = 0
        for name, wide, div, na in layout.fast_ops:
            value: int = raw[i]
            if wide:
                value |= raw[i + 1] << 16
                i += 2
            else:
                i += 1
            if value in na:
                continue
            if div > 0:
                kw[name] = value / div
            elif div == _KEEP:
                kw[name] = value
            else:
                kw[name] = 30.0 / value
        if layout.more_data:
            kw["more_data"] = True
        return _record(kw)
    return _parse_slow(bytes(data), layout, kw)


def _parse_slow(data: bytes, layout: _Layout, kw: dict[str, object]) -> TreadmillData:
    n = len(data)
    vendor = _VENDOR_SIZE if layout.vendor else 0
    chosen = layout.fields8
    if (
        layout.fields16 is not None
        and n not in (layout.size8, layout.size8 + vendor)
        and n in (layout.size16, layout.size16 + vendor)
    ):
        chosen = layout.fields16
    offset = 2
    truncated = False
    for f in chosen:
        if offset + f.size > n:
            truncated = True
            break
        _convert(kw, f.name, _read(f.wire, data, offset), f.div, f.na)
        offset += f.size
    if not truncated:
        if layout.vendor and n - offset >= _VENDOR_SIZE:
            kw["step_count"] = _read("T", data, offset)
            offset += _VENDOR_SIZE
        if offset < n:
            kw["extra"] = data[offset:]
    kw["more_data"] = layout.more_data
    kw["truncated"] = truncated
    return _record(kw)


def _read(wire: str, data: bytes, offset: int) -> int:
    if wire == "T":
        return data[offset] | data[offset + 1] << 8 | data[offset + 2] << 16
    value: int = struct.unpack_from("<" + wire, data, offset)[0]
    return value


def build_treadmill_data(record: TreadmillData) -> bytes:
    """Encode ``record`` as one Treadmill Data notification (FTMS v1.0.1 §4.9).

    A field group is sent when any of its values is set; a ``None`` beside a set value in the same
    group is sent as that field's "not available" sentinel. ``more_data=True`` builds a leading
    fragment of a split record: it carries no Instantaneous Speed (``speed_kmh`` must be
    ``None``); otherwise ``speed_kmh`` is required. ``step_count`` sets RFU bit 13 and appends the
    3 vendor bytes real devices send; ``extra`` is appended verbatim; ``truncated`` is ignored.
    Values are rounded to the wire resolution; a value that does not fit, is negative where the
    field is unsigned, or equals a "not available" sentinel raises :class:`BuildError`. The one
    exception is ``heart_rate_bpm=0``: it is sent (as treadmills without a sensor do) and reads
    back as ``None``.
    """
    flags = 0
    parts: list[bytes] = []
    if record.more_data:
        if record.speed_kmh is not None:
            raise BuildError(
                "a More Data fragment carries no Instantaneous Speed; set speed_kmh=None",
                field="speed_kmh",
                value=record.speed_kmh,
            )
        flags |= _MORE_DATA
    elif record.speed_kmh is None:
        raise BuildError(
            "Instantaneous Speed is required unless more_data=True", field="speed_kmh", value=None
        )
    for bit, group in enumerate(_GROUPS):
        values = [getattr(record, f.name) for f in group]
        if all(v is None for v in values):
            continue
        if bit:
            flags |= 1 << bit
        for f, v in zip(group, values, strict=True):
            if v is None:
                # Only multi-field groups get here with a None, and all of them have a sentinel.
                if f.na_out is not None:
                    parts.append(pack_raw(f.wire, f.na_out))
            else:
                scale = f.div if f.div > 0 else 1
                forbidden = _NONE if f.sendable_na else f.na
                parts.append(
                    pack_raw(f.wire, to_raw(f.name, v, scale, f.wire, forbidden=forbidden))
                )
    if record.step_count is not None:
        flags |= _STEP_COUNT_BIT
        parts.append(pack_raw("T", to_raw("step_count", record.step_count, 1, "T")))
    return flags.to_bytes(2, "little") + b"".join(parts) + bytes(record.extra)


def _merge(first: TreadmillData, second: TreadmillData) -> TreadmillData:
    kw: dict[str, object] = {}
    for name in _VALUE_FIELDS:
        value = getattr(second, name)
        kw[name] = getattr(first, name) if value is None else value
    kw["more_data"] = second.more_data
    kw["truncated"] = first.truncated or second.truncated
    kw["extra"] = first.extra + second.extra
    return _record(kw)


class TreadmillDataAssembler:
    """Merges a split Treadmill Data record (FTMS v1.0.1 §4.19 and Appendix 1) into one.

    Feed every notification in order. Fragments with More Data set are held back; the next
    fragment without it completes the record, which :meth:`feed` returns with the fields of all
    fragments merged (a later fragment's value wins). Call :meth:`reset` when the link drops: a
    partial record must not be merged with data from the next connection (§4.18).
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: TreadmillData | None = None

    @property
    def pending(self) -> bool:
        """Whether a partial record (More Data fragments) is being held."""
        return self._pending is not None

    def feed(self, data: BytesLike) -> TreadmillData | None:
        """Add one notification; returns the completed record or ``None`` while it is partial.

        Raises :class:`ProtocolError` for unreadable data and then drops any partial record.
        """
        try:
            record = parse_treadmill_data(data)
        except ProtocolError:
            self._pending = None
            raise
        pending = self._pending
        if record.more_data:
            self._pending = record if pending is None else _merge(pending, record)
            return None
        if pending is None:
            return record
        self._pending = None
        return _merge(pending, record)

    def reset(self) -> None:
        """Drop any partial record (call on disconnect)."""
        self._pending = None


__all__ = [
    "TreadmillData",
    "TreadmillDataAssembler",
    "build_treadmill_data",
    "parse_treadmill_data",
]
