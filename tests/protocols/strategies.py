"""Hypothesis strategies for FTMS values on the wire grid (values that encode exactly)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocols.ftms import ControlPointRequest, MachineStatus, TreadmillData
from protocols.ftms._codec import Param

_RANGES = {
    "B": (0, 0xFF),
    "b": (-0x80, 0x7F),
    "H": (0, 0xFFFF),
    "h": (-0x8000, 0x7FFF),
    "T": (0, 0xFFFFFF),
}


def on_grid(lo: int, hi: int, div: int) -> st.SearchStrategy[float]:
    """Values ``raw / div`` for integer ``raw`` in ``lo..hi``."""
    return st.integers(lo, hi).map(lambda raw: raw / div)


def param_value(p: Param) -> st.SearchStrategy[Any]:
    """Any value parameter ``p`` encodes exactly."""
    if p.enum is not None:
        members = st.sampled_from(list(p.enum))
        if p.strict:
            return members
        known = {int(m) for m in p.enum}
        rfu = st.integers(0, 0xFF).filter(lambda v: v not in known)
        return st.one_of(members, rfu)
    lo, hi = _RANGES[p.wire]
    if p.scale == 1:
        return st.integers(lo, hi)
    return on_grid(lo, hi, p.scale)


def request_of(cls: type[ControlPointRequest]) -> st.SearchStrategy[ControlPointRequest]:
    """Any request of class ``cls``."""
    return st.builds(cls, **{p.attr: param_value(p) for p in cls.PARAMS})


def status_of(cls: type[MachineStatus]) -> st.SearchStrategy[MachineStatus]:
    """Any status of class ``cls`` (without trailing bytes)."""
    return st.builds(cls, **{p.attr: param_value(p) for p in cls.PARAMS})


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def treadmill_records(draw: st.DrawFn, *, with_extra: bool = True) -> TreadmillData:
    """Any Treadmill Data record the builder can send and the parser reads back unchanged.

    Values that equal a "not available" sentinel are left out (they read back as None). Extra
    trailing bytes are drawn only without pace fields, whose width is chosen by packet length.
    """
    more_data = draw(st.booleans())
    kw: dict[str, Any] = {
        "more_data": more_data,
        "speed_kmh": None if more_data else draw(on_grid(0, 0xFFFF, 100)),
        "average_speed_kmh": draw(_opt(on_grid(0, 0xFFFF, 100))),
        "total_distance_m": draw(_opt(st.integers(0, 0xFFFFFF))),
        "inclination_pct": draw(_opt(on_grid(-0x8000, 0x7FFE, 10))),
        "ramp_angle_deg": draw(_opt(on_grid(-0x8000, 0x7FFE, 10))),
        "positive_elevation_gain_m": draw(
            _opt(on_grid(0, 0xFFFE, 10).filter(lambda v: v != 3276.7))
        ),
        "negative_elevation_gain_m": draw(
            _opt(on_grid(0, 0xFFFE, 10).filter(lambda v: v != 3276.7))
        ),
        "instantaneous_pace_kmpmin": draw(_opt(on_grid(0, 0xFF, 10))),
        "average_pace_kmpmin": draw(_opt(on_grid(0, 0xFF, 10))),
        "total_energy_kcal": draw(_opt(st.integers(0, 0xFFFE))),
        "energy_per_hour_kcal": draw(_opt(st.integers(0, 0xFFFE))),
        "energy_per_minute_kcal": draw(_opt(st.integers(0, 0xFE))),
        "heart_rate_bpm": draw(_opt(st.integers(1, 0xFF))),
        "metabolic_equivalent": draw(_opt(on_grid(0, 0xFF, 10))),
        "elapsed_time_s": draw(_opt(st.integers(0, 0xFFFF))),
        "remaining_time_s": draw(_opt(st.integers(0, 0xFFFF))),
        "force_on_belt_n": draw(_opt(st.integers(-0x8000, 0x7FFE))),
        "power_output_w": draw(_opt(st.integers(-0x8000, 0x7FFE))),
        "step_count": draw(_opt(st.integers(0, 0xFFFFFF))),
    }
    has_pace = kw["instantaneous_pace_kmpmin"] is not None or kw["average_pace_kmpmin"] is not None
    if with_extra and not has_pace:
        kw["extra"] = draw(st.binary(max_size=8))
    return TreadmillData(**kw)
