"""What the virtual treadmill puts on the air, encoded with :mod:`protocols.ftms` (FTMS v1.0.1 §4).

A thin adapter from the sim's plain numbers (physics floats, personality bit masks) to the typed
values the shared builders take, clamped so a long or odd session never produces unencodable values.
"""

from __future__ import annotations

from collections.abc import Mapping

from protocols.ftms import (
    FitnessMachineFeature,
    FitnessMachineFeatures,
    FitnessMachineType,
    InclinationRange,
    MachineStatus,
    ServiceData,
    SpeedRange,
    TargetSettingFeature,
    TrainingStatus,
    TreadmillData,
    build_features,
    build_inclination_range,
    build_machine_status,
    build_service_data,
    build_speed_range,
    build_training_status,
    build_treadmill_data,
)

TREADMILL_FIELD_GROUPS: tuple[tuple[str, ...], ...] = (
    ("average_speed_kmh",),
    ("total_distance_m",),
    ("inclination_pct", "ramp_angle_deg"),
    ("positive_elevation_gain_m", "negative_elevation_gain_m"),
    ("total_energy_kcal", "energy_per_hour_kcal", "energy_per_minute_kcal"),
    ("heart_rate_bpm",),
    ("metabolic_equivalent",),
    ("elapsed_time_s",),
    ("remaining_time_s",),
    ("step_count",),
)
"""Treadmill Data fields per flag bit in wire order (FTMS §4.9.1, Table 4.8; bit 13 = vendor
step counter): a group is present or absent as a whole."""

# Largest value each integer field may carry: the field width minus its "not available" sentinel.
_INT_LIMITS: dict[str, int] = {
    "total_distance_m": 0xFFFFFF,
    "total_energy_kcal": 0xFFFE,
    "energy_per_hour_kcal": 0xFFFE,
    "energy_per_minute_kcal": 0xFE,
    "heart_rate_bpm": 0xFF,
    "elapsed_time_s": 0xFFFF,
    "remaining_time_s": 0xFFFF,
    "step_count": 0xFFFFFF,
}


def treadmill_data(speed_kmh: float | None, fields: Mapping[str, float]) -> bytes:
    """One 2ACD notification; ``speed_kmh=None`` builds a More Data fragment (FTMS §4.9.1.1)."""
    values: dict[str, float | int] = {}
    for name, value in fields.items():
        limit = _INT_LIMITS.get(name)
        values[name] = min(limit, max(0, int(value))) if limit is not None else round(value, 2)
    record = TreadmillData(
        more_data=speed_kmh is None,
        speed_kmh=None if speed_kmh is None else min(655.35, max(0.0, speed_kmh)),
        **values,  # type: ignore[arg-type]
    )
    return build_treadmill_data(record)


def status(value: MachineStatus, padding: int = 0) -> bytes:
    """A 2ADA notification, with ``padding`` zero bytes appended (Urevo, CITYSPORTS)."""
    return build_machine_status(value) + bytes(padding)


def training_status(code: int) -> bytes:
    """A 2AD3 value without a string (FTMS §4.10); RFU codes (Urevo 0x10/0x11) pass through."""
    return build_training_status(TrainingStatus(code))


def features(machine: int, target: int) -> bytes:
    """2ACC Fitness Machine Feature (FTMS §4.3)."""
    return build_features(
        FitnessMachineFeatures(FitnessMachineFeature(machine), TargetSettingFeature(target))
    )


def speed_range(min_kmh: float, max_kmh: float, increment_kmh: float) -> bytes:
    """2AD4 Supported Speed Range (FTMS §4.12)."""
    return build_speed_range(SpeedRange(min_kmh, max_kmh, increment_kmh))


def inclination_range(min_pct: float, max_pct: float, increment_pct: float) -> bytes:
    """2AD5 Supported Inclination Range (FTMS §4.13)."""
    return build_inclination_range(InclinationRange(min_pct, max_pct, increment_pct))


def service_data(available: bool) -> bytes:
    """FTMS advertising Service Data value for a treadmill (FTMS §3.1)."""
    return build_service_data(ServiceData(available, FitnessMachineType.TREADMILL))


__all__ = [
    "TREADMILL_FIELD_GROUPS",
    "features",
    "inclination_range",
    "service_data",
    "speed_range",
    "status",
    "training_status",
    "treadmill_data",
]
