"""The virtual heart-rate strap's body and behaviour, sans-IO (``now`` in sim seconds).

:class:`HeartModel` is the walker: resting 70 bpm, rising about 3 bpm per 0.1 mph of belt speed
and 3 bpm per percent of incline, reached with a first-order lag (time constant 10 s: about 95 %
of a change within 30 s). :class:`StrapCore` is the strap: what it sends each second for one
:class:`StrapKind`:

=================  ================================================================================
``steady``         the measured heart rate, contact detected (the default)
``rising``         from the onset (default 10 s) the heart rate climbs 1.5 bpm per second on top
                   of the walker's, past 150 within about a minute
``dropout``        from the onset (default 20 s) the strap stops notifying (the link stays up)
``no-contact``     from the onset: contact supported but not detected, 0 bpm
``disconnect``     at the onset the strap drops its link and stops advertising (battery gone)
``zero-bursts``    from the onset, every 12 s: one sample without contact, then two of 0 bpm
                   with contact (as real straps do when contact comes back), then real values
=================  ================================================================================

A kind is written ``KIND[@WHEN]`` (``dropout@40s``; WHEN as in the fault syntax). WHEN counts
from the first connection to the strap (:meth:`StrapCore.connected`): a strap misbehaves while
somebody listens, however long the treadmill took to connect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from protocols.heart_rate import HeartRateMeasurement
from retro_treadmill.errors import ConfigError
from retro_treadmill.sim.faults import parse_duration

RESTING_BPM = 70.0
BPM_PER_KMH = 3.0 / 0.160934
"""About 3 bpm per 0.1 mph."""
BPM_PER_INCLINE_PCT = 3.0
LAG_S = 10.0
"""Time constant of the heart's response (about 95 % of a step within 30 s)."""
RISING_BPM_PER_S = 1.5
ZERO_BURST_EVERY_S = 12.0


class StrapBehaviour(StrEnum):
    """What the virtual strap does (see the module docstring)."""

    STEADY = "steady"
    RISING = "rising"
    DROPOUT = "dropout"
    NO_CONTACT = "no-contact"
    DISCONNECT = "disconnect"
    ZERO_BURSTS = "zero-bursts"


_DEFAULT_ONSET_S: dict[StrapBehaviour, float] = {
    StrapBehaviour.STEADY: 0.0,
    StrapBehaviour.RISING: 10.0,
    StrapBehaviour.DROPOUT: 20.0,
    StrapBehaviour.NO_CONTACT: 20.0,
    StrapBehaviour.DISCONNECT: 20.0,
    StrapBehaviour.ZERO_BURSTS: 5.0,
}


@dataclass(frozen=True, slots=True)
class StrapKind:
    """A strap behaviour and when it begins (sim seconds since the first connection)."""

    behaviour: StrapBehaviour = StrapBehaviour.STEADY
    onset_s: float = 0.0

    def __str__(self) -> str:
        return f"{self.behaviour.value}@{self.onset_s:g}s"


def parse_strap_kind(text: str) -> StrapKind:
    """``KIND[@WHEN]`` -> :class:`StrapKind`; :class:`ConfigError` naming the kinds otherwise."""
    name, _, when = text.strip().partition("@")
    try:
        behaviour = StrapBehaviour(name.strip() or "steady")
    except ValueError:
        kinds = ", ".join(b.value for b in StrapBehaviour)
        raise ConfigError(
            f"unknown heart-rate strap kind {name!r}: use one of {kinds} (optionally @WHEN, "
            "e.g. dropout@40s)",
            field="hr",
        ) from None
    onset = parse_duration(when, spec=text) if when else _DEFAULT_ONSET_S[behaviour]
    return StrapKind(behaviour, onset)


class HeartModel:
    """The walker's heart rate following belt speed and incline with a lag."""

    def __init__(self, resting_bpm: float = RESTING_BPM) -> None:
        self.resting_bpm = resting_bpm
        self.bpm = resting_bpm
        self._last: float | None = None

    @staticmethod
    def steady_state(speed_kmh: float, incline_pct: float) -> float:
        """Where the heart rate settles at this belt speed and incline."""
        return (
            RESTING_BPM
            + BPM_PER_KMH * max(0.0, speed_kmh)
            + BPM_PER_INCLINE_PCT * max(0.0, incline_pct)
        )

    def step(self, now: float, speed_kmh: float, incline_pct: float) -> float:
        """Advance to ``now`` with the belt at ``speed_kmh`` / ``incline_pct``; the heart rate."""
        goal = self.steady_state(speed_kmh, incline_pct) + (self.resting_bpm - RESTING_BPM)
        if self._last is None:
            self._last = now
        dt = max(0.0, now - self._last)
        self._last = now
        self.bpm = goal + (self.bpm - goal) * math.exp(-dt / LAG_S)
        return self.bpm


@dataclass(frozen=True, slots=True)
class StrapSample:
    """What the strap does at one sample time: ``measurement`` to notify (``None``: nothing),
    ``disconnect`` when it drops its link now (and stays away)."""

    measurement: HeartRateMeasurement | None
    disconnect: bool = False


class StrapCore:
    """One virtual strap: the walker's heart and the kind's behaviour."""

    def __init__(self, kind: StrapKind | None = None) -> None:
        self.kind = kind or StrapKind()
        self.heart = HeartModel()
        self.gone = False
        self._origin: float | None = None

    def connected(self, now: float) -> None:
        """A client connected at ``now``: the kind's onset counts from the first one."""
        if self._origin is None:
            self._origin = now

    def sample(self, now: float, speed_kmh: float, incline_pct: float) -> StrapSample:
        """The sample at ``now`` (call about once a second) with the belt's speed and incline."""
        bpm = self.heart.step(now, speed_kmh, incline_pct)
        kind = self.kind
        since = -1.0 if self._origin is None else now - self._origin
        active = since >= kind.onset_s
        behaviour = kind.behaviour
        if self.gone:
            return StrapSample(None)
        if behaviour is StrapBehaviour.RISING and active:
            bpm += RISING_BPM_PER_S * (since - kind.onset_s)
        elif behaviour is StrapBehaviour.DROPOUT and active:
            return StrapSample(None)
        elif behaviour is StrapBehaviour.NO_CONTACT and active:
            return StrapSample(HeartRateMeasurement(0, contact_detected=False))
        elif behaviour is StrapBehaviour.DISCONNECT and active:
            self.gone = True
            return StrapSample(None, disconnect=True)
        elif behaviour is StrapBehaviour.ZERO_BURSTS and active:
            phase = (since - kind.onset_s) % ZERO_BURST_EVERY_S
            if phase < 1.0:
                return StrapSample(HeartRateMeasurement(0, contact_detected=False))
            if phase < 3.0:
                return StrapSample(HeartRateMeasurement(0, contact_detected=True))
        value = max(1, min(0xFFFF, round(bpm)))
        return StrapSample(HeartRateMeasurement(value, contact_detected=True))


__all__ = [
    "HeartModel",
    "StrapBehaviour",
    "StrapCore",
    "StrapKind",
    "StrapSample",
    "parse_strap_kind",
]
