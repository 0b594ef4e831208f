"""Walkers: the people who walk, with their own caps (pure; sans-IO, import-linter checks it).

A walker is known by a pseudonymous id (``W-17``, ``knee-03``: letters, digits, ``-``, ``_``,
``.``; no spaces, so a full name is not typed by accident). A name and a note may be kept with it;
they stay in the local database and are never published (MQTT carries the treadmill and the
session only).

A walker's caps tighten the clinic's limits and never loosen them: :func:`check_caps` refuses a
value above the clinic's cap, naming the clinic's cap, and :func:`effective_limits` applies the
lowest of the two (as everywhere: the lowest cap wins). Speeds are km/h and inclines percent
inside; mph only at the edges.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from retro_treadmill.errors import RetroTreadmillError
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import kmh_to_mph

WALKER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
"""A walker id: 1-32 characters, letters, digits, ``.``, ``_``, ``-``; starts with a letter or
a digit."""

HEART_RATE_BOUNDS = (30.0, 250.0)
"""The sane range of a heart-rate limit (the clinic config's bounds)."""


class WalkerError(RetroTreadmillError):
    """A walker's id or caps are not acceptable; the message says which value and why."""


@dataclass(frozen=True, slots=True)
class WalkerCaps:
    """A walker's own caps (``None``: the clinic's limit applies). km/h, percent, bpm."""

    max_speed_kmh: float | None = None
    max_incline_pct: float | None = None
    max_heart_rate_bpm: float | None = None
    hr_hold_above_bpm: float | None = None
    """At or above this heart rate speed and incline increases are refused (the heart-rate
    hold of the safety governor)."""

    def is_empty(self) -> bool:
        """Whether no cap is set."""
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))


@dataclass(frozen=True, slots=True)
class Walker:
    """A walker as stored. ``created_at``/``archived_at`` are UTC epoch seconds."""

    walker_id: str
    caps: WalkerCaps = WalkerCaps()
    name: str = ""
    """Kept locally only; never published."""
    program: str | None = None
    """The rehab program (``profiles/programs/NAME.toml``) the walker follows."""
    note: str = ""
    created_at: float = 0.0
    archived_at: float | None = None

    @property
    def archived(self) -> bool:
        """Whether the walker was archived (kept, but no longer offered)."""
        return self.archived_at is not None


def check_walker_id(walker_id: str) -> str:
    """``walker_id`` if it is a valid pseudonymous id, else :class:`WalkerError` saying why."""
    if not WALKER_ID_RE.match(walker_id):
        raise WalkerError(
            f"walker id {walker_id!r} is not valid: use 1-32 letters, digits, '.', '_' or '-' "
            "(a pseudonym such as W-17; keep the person's name in --name, which stays local)"
        )
    return walker_id


@dataclass(frozen=True, slots=True)
class _CapSpec:
    field: str
    """The :class:`SafetyLimits` and :class:`WalkerCaps` field."""
    option: str
    """The command-line option, for messages."""
    config_key: str
    """The clinic config's ``[safety]`` key."""


CAP_SPECS: tuple[_CapSpec, ...] = (
    _CapSpec("max_speed_kmh", "--max-speed-mph", "max_speed_mph"),
    _CapSpec("max_incline_pct", "--max-incline", "max_incline_pct"),
    _CapSpec("max_heart_rate_bpm", "--max-heart-rate", "max_heart_rate_bpm"),
    _CapSpec("hr_hold_above_bpm", "--hr-hold-above", "hr_hold_above_bpm"),
)


def governor_supports(field_name: str) -> bool:
    """Whether the safety governor's limits have ``field_name`` (the heart-rate hold arrives
    with the governor's heart-rate rules)."""
    return field_name in {f.name for f in dataclasses.fields(SafetyLimits)}


def _shown(field_name: str, value: float) -> str:
    if field_name == "max_speed_kmh":
        return f"{_num(kmh_to_mph(value))} mph"
    if field_name == "max_incline_pct":
        return f"{_num(value)} %"
    return f"{_num(value)} bpm"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def check_caps(caps: WalkerCaps, clinic: SafetyLimits, clinic_source: str) -> None:
    """Refuse a cap that would loosen the clinic's (naming the clinic's cap and where it comes
    from), a cap the governor cannot enforce, and values that make no sense."""
    for spec in CAP_SPECS:
        value = getattr(caps, spec.field)
        if value is None:
            continue
        if not math.isfinite(value) or value <= 0:
            raise WalkerError(f"{spec.option} must be a number above 0, got {value}")
        if not governor_supports(spec.field):
            raise WalkerError(
                f"{spec.option}: this version's safety governor has no such limit, so the cap "
                "could not be enforced; leave it out"
            )
        if spec.field.endswith("_bpm"):
            low, high = HEART_RATE_BOUNDS
            if not low <= value <= high:
                raise WalkerError(
                    f"{spec.option} {_num(value)} is outside {low:.0f}-{high:.0f} bpm; check for "
                    "a typo"
                )
        clinic_value = float(getattr(clinic, spec.field))
        if value > clinic_value + 1e-9:
            raise WalkerError(
                f"{spec.option} {_shown(spec.field, value)} is above the clinic cap "
                f"{spec.config_key} = {_shown(spec.field, clinic_value)} ({clinic_source}); a "
                "walker's caps can only tighten the clinic's"
            )
    if (
        caps.hr_hold_above_bpm is not None
        and caps.max_heart_rate_bpm is not None
        and caps.hr_hold_above_bpm > caps.max_heart_rate_bpm
    ):
        raise WalkerError(
            f"--hr-hold-above {_num(caps.hr_hold_above_bpm)} is above --max-heart-rate "
            f"{_num(caps.max_heart_rate_bpm)}: the hold would never act before the stop"
        )
    if caps.max_speed_kmh is not None and caps.max_speed_kmh < clinic.min_running_speed_kmh:
        raise WalkerError(
            f"--max-speed-mph {_shown('max_speed_kmh', caps.max_speed_kmh)} is below the "
            f"minimum running speed {_shown('max_speed_kmh', clinic.min_running_speed_kmh)} "
            f"({clinic_source}): no speed would be left"
        )


def effective_limits(clinic: SafetyLimits, walker: Walker | WalkerCaps | None) -> SafetyLimits:
    """The clinic's limits tightened by the walker's caps (the lowest of each wins; a lower
    speed cap lowers the start-speed cap too). A walker's cap the governor cannot enforce is a
    :class:`WalkerError` (fail closed: a cap that cannot be checked is no cap)."""
    if walker is None:
        return clinic
    caps = walker.caps if isinstance(walker, Walker) else walker
    limits = clinic
    for spec in CAP_SPECS:
        value = getattr(caps, spec.field)
        if value is None:
            continue
        if not governor_supports(spec.field):
            raise WalkerError(
                f"the walker's {spec.option} cap cannot be enforced by this version's safety "
                "governor; remove it with `walkers edit`"
            )
        current = float(getattr(limits, spec.field))
        if value < current:
            limits = dataclasses.replace(limits, **{spec.field: value})
    if limits.max_start_speed_kmh > limits.max_speed_kmh:
        limits = dataclasses.replace(limits, max_start_speed_kmh=limits.max_speed_kmh)
    return limits


def describe_caps(caps: WalkerCaps) -> str:
    """The caps as one line, e.g. ``max speed 1.2 mph, max heart rate 120 bpm`` (or
    ``the clinic's limits``)."""
    labels = {
        "max_speed_kmh": "max speed",
        "max_incline_pct": "max incline",
        "max_heart_rate_bpm": "max heart rate",
        "hr_hold_above_bpm": "hold above",
    }
    parts = [
        f"{labels[spec.field]} {_shown(spec.field, getattr(caps, spec.field))}"
        for spec in CAP_SPECS
        if getattr(caps, spec.field) is not None
    ]
    return ", ".join(parts) if parts else "the clinic's limits"


__all__ = [
    "CAP_SPECS",
    "WALKER_ID_RE",
    "Walker",
    "WalkerCaps",
    "WalkerError",
    "check_caps",
    "check_walker_id",
    "describe_caps",
    "effective_limits",
    "governor_supports",
]
