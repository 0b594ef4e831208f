"""Typed events of the FTMS client: what the session service, the UI and the recorder consume.

Every event is a frozen dataclass with ``at``: the client's clock reading (seconds, the injected
:class:`retro_treadmill.clock.Clock`) when the event was received or decided. Speeds are km/h and
inclines percent (FTMS units); nothing here is in mph.

Consume them with ``async for event in client.events(): ...`` or ``client.add_listener(callback)``
(see :class:`retro_treadmill.ftms.client.FtmsClient`). Dispatch on the type with ``match``::

    match event:
        case TreadmillDataEvent(record=record): ...
        case LinkLost(): ...  # alarm at once: the belt may still be running
        case UnitMismatch(): ...  # stop the belt

The groups:

- telemetry: :class:`TreadmillDataEvent`, :class:`MachineStatusEvent`, :class:`TrainingStatusEvent`,
  :class:`BeltStateChanged`, :class:`TelemetrySilence`;
- link: :class:`Connected`, :class:`LinkLost`, :class:`Reconnecting`, :class:`ReconnectFailed`;
- control: :class:`ControlChanged`, :class:`CommandResult`, :class:`UnitMismatch`.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.ftms import MachineStatus, TrainingStatus, TreadmillData
from retro_treadmill.ftms.model import BeltState, Command, CommandKind, Outcome


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """What the client learned about the treadmill at connect (FTMS §4.3, §4.13, §4.14).

    Ranges are ``None`` when the characteristic is absent or nonsensical (e.g. all zeros, min >
    max); ``features``/``target_features`` are the raw 2ACC bit fields (hints only: real devices
    misreport them, ftms-notes §2).
    """

    name: str | None
    address: str
    min_speed_kmh: float | None = None
    max_speed_kmh: float | None = None
    speed_increment_kmh: float | None = None
    min_incline_pct: float | None = None
    max_incline_pct: float | None = None
    incline_increment_pct: float | None = None
    features: int = 0
    target_features: int = 0
    quirks_name: str = "default"
    """Which entry of the quirks table matched the name (``"default"`` when none did)."""


@dataclass(frozen=True, slots=True)
class TreadmillDataEvent:
    """One complete Treadmill Data record (2ACD, FTMS §4.9), split notifications merged."""

    at: float
    record: TreadmillData


@dataclass(frozen=True, slots=True)
class MachineStatusEvent:
    """A Fitness Machine Status notification (2ADA, FTMS §4.17), e.g. 0x03 stopped by the
    safety key, 0xFF control permission lost, 0x02 stopped by the user on the console."""

    at: float
    status: MachineStatus


@dataclass(frozen=True, slots=True)
class TrainingStatusEvent:
    """A Training Status notification (2AD3, FTMS §4.10)."""

    at: float
    status: TrainingStatus


@dataclass(frozen=True, slots=True)
class BeltStateChanged:
    """The belt state derived from telemetry changed; ``speed_kmh`` is the reported speed
    (None when ``state`` is UNKNOWN)."""

    at: float
    state: BeltState
    speed_kmh: float | None


@dataclass(frozen=True, slots=True)
class TelemetrySilence:
    """No Treadmill Data for ``silent_for_s`` seconds while connected (sent once per silence).

    The belt state is UNKNOWN from here until telemetry returns; when the silence lasts
    ``link_silence_s`` and the belt was moving when it began, the client also treats the link as
    lost (:class:`LinkLost` with reason "telemetry silence")."""

    at: float
    silent_for_s: float


@dataclass(frozen=True, slots=True)
class Connected:
    """Connected, discovered, subscribed and ready for commands.

    On a reconnect (``reconnect=True``) the client has already written Stop as its first
    command; the belt state is UNKNOWN until telemetry confirms it, and nothing earlier is
    re-applied: the operator decides what happens next."""

    at: float
    device: DeviceDescription
    reconnect: bool = False


@dataclass(frozen=True, slots=True)
class LinkLost:
    """The link dropped (``reason``: "disconnected" from the BLE stack, or "telemetry silence").

    Sent at once, before any reconnect attempt. Every pending command ends with LINK_LOST."""

    at: float
    reason: str
    will_reconnect: bool


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """A reconnect attempt (1-based ``attempt`` of ``max_attempts``) starts after ``delay_s``."""

    at: float
    attempt: int
    max_attempts: int
    delay_s: float


@dataclass(frozen=True, slots=True)
class ReconnectFailed:
    """Every reconnect attempt failed; the client stays disconnected (``last_error``)."""

    at: float
    attempts: int
    last_error: str


@dataclass(frozen=True, slots=True)
class ControlChanged:
    """Control of the treadmill was granted or lost (FTMS §4.16.2.1; status 0xFF, Reset or
    disconnect revoke it)."""

    at: float
    granted: bool
    reason: str


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How one command submitted by the caller ended.

    ``result_code`` is the FTMS result code of the last response (None when none came);
    ``latency_s`` is the round trip from the first write of the command to its response; the
    extra Request Control procedures the client inserted are counted in ``attempts``."""

    at: float
    ticket: int
    command: Command
    outcome: Outcome
    result_code: int | None = None
    latency_s: float | None = None
    detail: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class UnitMismatch:
    """The units self-test failed: with a target of ``target_kmh`` the belt settled at
    ``reported_kmh`` (ratio near 1.609 or 1/1.609: the treadmill reads or reports mph).

    The caller must stop the belt (DESIGN safety defaults)."""

    at: float
    target_kmh: float
    reported_kmh: float
    ratio: float


FtmsEvent = (
    TreadmillDataEvent
    | MachineStatusEvent
    | TrainingStatusEvent
    | BeltStateChanged
    | TelemetrySilence
    | Connected
    | LinkLost
    | Reconnecting
    | ReconnectFailed
    | ControlChanged
    | CommandResult
    | UnitMismatch
)
"""Every event the FTMS client emits."""


__all__ = [
    "BeltState",
    "BeltStateChanged",
    "Command",
    "CommandKind",
    "CommandResult",
    "Connected",
    "ControlChanged",
    "DeviceDescription",
    "FtmsEvent",
    "LinkLost",
    "MachineStatusEvent",
    "Outcome",
    "ReconnectFailed",
    "Reconnecting",
    "TelemetrySilence",
    "TrainingStatusEvent",
    "TreadmillDataEvent",
    "UnitMismatch",
]
