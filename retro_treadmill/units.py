"""Unit conversions: the only module that converts between mph and km/h.

Internally everything is km/h and percent (FTMS units, DESIGN rule 5); mph appears only at the
edges: profile input, display and MQTT payloads that carry both.
"""

from __future__ import annotations

from typing import Literal

KMH_PER_MPH = 1.609344
"""Kilometres per hour in one mile per hour (exact, international mile)."""

SpeedUnit = Literal["mph", "kmh"]


def mph_to_kmh(mph: float) -> float:
    """Convert a speed in miles per hour to kilometres per hour."""
    return mph * KMH_PER_MPH


def kmh_to_mph(kmh: float) -> float:
    """Convert a speed in kilometres per hour to miles per hour."""
    return kmh / KMH_PER_MPH


def to_kmh(value: float, unit: SpeedUnit) -> float:
    """Convert ``value`` given in ``unit`` to km/h."""
    return mph_to_kmh(value) if unit == "mph" else value


def from_kmh(kmh: float, unit: SpeedUnit) -> float:
    """Convert ``kmh`` to ``unit``."""
    return kmh_to_mph(kmh) if unit == "mph" else kmh


def format_speed(kmh: float | None, unit: SpeedUnit, digits: int = 1) -> str:
    """A speed for display, e.g. ``"1.2 mph"``; ``"--"`` when unknown."""
    if kmh is None:
        return f"-- {unit_label(unit)}"
    return f"{from_kmh(kmh, unit):.{digits}f} {unit_label(unit)}"


METRES_PER_MILE = 1609.344
METRES_PER_YARD = 0.9144


def format_distance(metres: float, unit: SpeedUnit) -> str:
    """A distance for display in the unit family of ``unit``: metres (km from 1 km) with km/h;
    yards (miles from a quarter mile) with mph, since a ten-minute walk at 1 mph is 293 yd,
    which reads better than 0.17 mi."""
    if unit == "kmh":
        return f"{metres / 1000:.2f} km" if metres >= 1000 else f"{metres:.0f} m"
    miles = metres / METRES_PER_MILE
    return f"{miles:.2f} mi" if miles >= 0.25 else f"{metres / METRES_PER_YARD:.0f} yd"


def unit_label(unit: SpeedUnit) -> str:
    """The short label shown next to a speed."""
    return "mph" if unit == "mph" else "km/h"


__all__ = [
    "KMH_PER_MPH",
    "METRES_PER_MILE",
    "METRES_PER_YARD",
    "SpeedUnit",
    "format_distance",
    "format_speed",
    "from_kmh",
    "kmh_to_mph",
    "mph_to_kmh",
    "to_kmh",
    "unit_label",
]
