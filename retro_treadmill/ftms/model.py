"""Plain value types shared by the control-point machine and the events (no protocol imports)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BeltState(enum.Enum):
    """What the client knows about the belt from telemetry (DESIGN rule 4: trust telemetry)."""

    UNKNOWN = "unknown"
    """No Treadmill Data since (re)connecting: the belt may be running (e.g. after a link drop on
    a treadmill that keeps running on disconnect)."""
    STOPPED = "stopped"
    """The last Treadmill Data showed an instantaneous speed below the standstill threshold."""
    MOVING = "moving"
    """The last Treadmill Data showed the belt moving."""


class Outcome(enum.Enum):
    """How a control-point command ended (FTMS §4.16: procedures and result codes)."""

    SUCCESS = "success"
    """Result code 0x01. The treadmill *accepted* it; telemetry says whether it was applied."""
    ALREADY_RUNNING = "already-running"
    """Start answered 0x04 Operation Failed: the belt was already running (ftms-notes §11.5)."""
    ALREADY_STOPPED = "already-stopped"
    """Stop/Pause answered 0x04 Operation Failed: the belt was already stopped."""
    REJECTED = "rejected"
    """A result code other than Success (see ``result_code``): 0x02 not supported, 0x03 invalid
    parameter, 0x04 failed, or 0x05 control not permitted after the retries ran out."""
    TIMEOUT = "timeout"
    """No response within the device's control-point timeout (ftms-notes §6: 2-5 s in practice)."""
    PREEMPTED = "preempted"
    """Written, then overtaken by a Stop before its response came; a late response is ignored."""
    CANCELLED = "cancelled"
    """Never written: a Stop cancelled it while it waited its turn."""
    SUPERSEDED = "superseded"
    """Never written: a newer target of the same kind replaced it while it waited its turn."""
    LINK_LOST = "link-lost"
    """The link dropped before a response (or the client was not connected)."""
    WRITE_FAILED = "write-failed"
    """The GATT write itself failed (ATT error in ``detail``), e.g. 0xFD CCCD improperly
    configured, or 0xFE procedure already in progress after the retries ran out."""
    BELT_NOT_MOVING = "belt-not-moving"
    """A speed change waited for the belt to move (``wait_for_belt_before_speed`` quirk) in vain."""

    @property
    def accepted(self) -> bool:
        """True when the treadmill accepted the command (or it was already in that state)."""
        return self in (Outcome.SUCCESS, Outcome.ALREADY_RUNNING, Outcome.ALREADY_STOPPED)


class CommandKind(enum.Enum):
    """The control-point procedures this client issues (FTMS §4.16.1, Table 4.15)."""

    REQUEST_CONTROL = "request-control"
    """Op 0x00."""
    RESET = "reset"
    """Op 0x01 (also revokes control)."""
    SET_TARGET_SPEED = "set-target-speed"
    """Op 0x02, parameter km/h (0.01 resolution on the wire)."""
    SET_TARGET_INCLINE = "set-target-incline"
    """Op 0x03, parameter percent (0.1 resolution on the wire)."""
    START = "start"
    """Op 0x07 Start or Resume."""
    STOP = "stop"
    """Op 0x08 with Control Information 0x01."""
    PAUSE = "pause"
    """Op 0x08 with Control Information 0x02."""


@dataclass(frozen=True, slots=True)
class Command:
    """One control-point command as the application means it (km/h, percent)."""

    kind: CommandKind
    value: float | None = None
    """Target speed (km/h) or incline (%) for the Set Target commands; None otherwise."""

    def __str__(self) -> str:
        if self.kind is CommandKind.SET_TARGET_SPEED:
            return f"{self.kind.value} {self.value:.2f} km/h"
        if self.kind is CommandKind.SET_TARGET_INCLINE:
            return f"{self.kind.value} {self.value:.1f} %"
        return str(self.kind.value)


__all__ = ["BeltState", "Command", "CommandKind", "Outcome"]
