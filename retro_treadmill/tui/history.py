"""Ring buffers of speed, incline and heart rate over the session, for the plots."""

from __future__ import annotations

from collections import deque

from retro_treadmill.tui.model import SessionSnapshot, SessionState

_RECORDING = frozenset({SessionState.RUNNING, SessionState.PAUSED, SessionState.STOPPING})


class History:
    """One sample per ``period_s`` of session time (``elapsed_s``), the newest ``maxlen`` kept.

    Sampling by session time keeps the plots the same under ``--time-scale`` and in tests.
    ``version`` changes whenever a sample is added, so widgets redraw only then.
    """

    def __init__(self, maxlen: int = 3600, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self.speed_kmh: deque[float] = deque(maxlen=maxlen)
        self.incline_pct: deque[float] = deque(maxlen=maxlen)
        self.heart_rate_bpm: deque[float] = deque(maxlen=maxlen)
        self.version = 0
        self._next_s = 0.0

    def record(self, snapshot: SessionSnapshot) -> bool:
        """Add a sample when the session is under way and a period has passed; True if added."""
        if snapshot.state not in _RECORDING or snapshot.elapsed_s < self._next_s:
            return False
        self._next_s = (snapshot.elapsed_s // self.period_s + 1) * self.period_s
        self.speed_kmh.append(snapshot.speed_kmh or 0.0)
        self.incline_pct.append(snapshot.incline_pct or 0.0)
        if snapshot.heart_rate_bpm is not None:
            self.heart_rate_bpm.append(float(snapshot.heart_rate_bpm))
        self.version += 1
        return True
