"""What the walker is told: the straddle start, the STEP ON moment and the posture cues.

Pure (sans-IO): every function takes the facts (direction, speeds, ``now``) and returns text. The
session engine (:mod:`retro_treadmill.session.engine`) decides *when* each text applies; the
front ends only show :attr:`SessionStatus.prompt` and :attr:`SessionStatus.cue`.

The start procedure is the one physiotherapists teach for backward walking on a treadmill: the
walker stands on the side rails (feet off the belt), facing the way they will walk, both hands on
the rails; the belt starts at the slow start speed; the walker steps on only once the belt moves
at that speed. The same happens after every turn-around and every pause.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from retro_treadmill.units import SpeedUnit, format_speed

STEP_ON = "STEP ON"
"""The words that tell the walker to step onto the moving belt (shown only once telemetry
confirms the belt at the start speed)."""

STEP_ON_SHOW_S = 6.0
"""How long (session seconds) the STEP ON prompt stays before the segment's own prompt."""

CUE_PERIOD_S = 15.0
"""Each posture cue shows for this long (session seconds) before the next one."""

DEFAULT_BACKWARD_CUES: tuple[str, ...] = (
    "Toe first, then roll onto the heel",
    "Head up, eyes level",
    "Core engaged, stand tall",
    "Hold the rails lightly",
    "No leaning back: hips over your feet",
)
"""The posture cues shown in rotation during backward segments (a profile's ``cues`` replace
them)."""

MAX_CUE_CHARS = 60
"""A cue is one line readable from 2 m; longer ones are refused when the profile loads."""


def facing(direction: str) -> str:
    """Which way the walker faces for a segment walked in ``direction``."""
    if direction == "forward":
        return "facing the console"
    return "facing the rear of the treadmill (away from the console)"


def straddle_prompt(direction: str, start_kmh: float, units: SpeedUnit) -> str:
    """Before the belt moves (preflight, countdown, after a pause or a turn-around)."""
    return (
        f"Stand on the side rails, feet off the belt, {facing(direction)}, both hands on the "
        f"rails. The belt starts at {format_speed(start_kmh, units)}. Step on only when the "
        f"screen says {STEP_ON}."
    )


def waiting_prompt(start_kmh: float, units: SpeedUnit) -> str:
    """The belt was started; telemetry does not yet show it at the start speed."""
    return (
        f"The belt is starting ({format_speed(start_kmh, units)}): stay on the side rails and "
        f"wait for {STEP_ON}."
    )


def step_on_prompt(direction: str, belt_kmh: float, units: SpeedUnit) -> str:
    """Telemetry confirms the belt at the start speed: the walker steps on."""
    walk = "walk forwards" if direction == "forward" else "walk backwards"
    return (
        f"{STEP_ON}: the belt moves at {format_speed(belt_kmh, units)}. Hands on the rails, {walk}."
    )


def turn_around_prompt(direction: str) -> str:
    """Between a forward and a backward segment (the belt is stopped for it)."""
    return (
        f"Turn around now to walk {direction}: once the belt has stopped, step onto the side "
        f"rails, {facing(direction)}, hands on the rails, and confirm to continue."
    )


def paused_prompt(direction: str) -> str:
    """Paused (not for a turn-around): where to stand before resuming."""
    return (
        "Paused: hold the rails while the belt stops, then step onto the side rails, "
        f"{facing(direction)}, before you resume."
    )


def cue_at(cues: Sequence[str], now: float, period_s: float = CUE_PERIOD_S) -> str:
    """The cue to show at ``now`` (session seconds): each cue for ``period_s``, in turn.
    ``""`` when there are none."""
    if not cues:
        return ""
    if not period_s > 0 or not math.isfinite(now):  # broken period or clock: the first cue
        return cues[0]
    return cues[int(max(0.0, now) // period_s) % len(cues)]


__all__ = [
    "CUE_PERIOD_S",
    "DEFAULT_BACKWARD_CUES",
    "MAX_CUE_CHARS",
    "STEP_ON",
    "STEP_ON_SHOW_S",
    "cue_at",
    "facing",
    "paused_prompt",
    "step_on_prompt",
    "straddle_prompt",
    "turn_around_prompt",
    "waiting_prompt",
]
