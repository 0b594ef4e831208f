"""What the UI shows about the walker of a ``run --walker`` session."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WalkerInfo:
    """The walker's pseudonymous id, their caps and the program stage chosen for this session."""

    walker_id: str
    caps: str
    """E.g. ``max speed 1.2 mph, max heart rate 125 bpm``."""
    stage: str = ""
    """E.g. ``knee-oa-6-weeks, week 2, session 1 of 3: ...`` (empty without a program)."""

    @property
    def caps_line(self) -> str:
        """The preflight screen's line."""
        return f"Walker {self.walker_id} · caps: {self.caps}"

    @property
    def stage_line(self) -> str:
        """The profile screen's line."""
        return f"Walker {self.walker_id} · " + (self.stage or "no program")


__all__ = ["WalkerInfo"]
