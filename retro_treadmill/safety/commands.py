"""Values that flow through the safety governor: commands, requests, decisions, events, alarms.

Everything is plain, immutable data (speeds km/h, inclines percent: FTMS units, DESIGN rule 5).

- A **command** (:data:`Command`) is what the service writes to the FTMS Control Point (0x2AD9):
  :class:`Stop` and :class:`Pause` (op 0x08 Stop or Pause, parameter 0x01 / 0x02),
  :class:`Start` (op 0x07 Start or Resume), :class:`SetSpeed` (op 0x02, uint16 in 0.01 km/h) and
  :class:`SetIncline` (op 0x03, sint16 in 0.1 %).
- A **request** (:class:`Request`) is a command somebody asks for (profile step, keyboard +/-,
  MQTT, operator), tagged with its :class:`Source`. :class:`SpeedChange` and
  :class:`InclineChange` are relative requests (keyboard +/-) the governor resolves against the
  last commanded target.
- A **decision** (:class:`Decision`) is the governor's answer: approved, rejected with a reason a
  person understands, or replaced by a safer command (the reason says what was changed and why).
- An **event** (:data:`Event`) is something the service observed: Treadmill Data (FTMS 4.9), the
  link going up or down, a Fitness Machine Status notification (FTMS 4.17, 0x2ADA), the device's
  supported ranges (0x2AD4 / 0x2AD5).
- An **alarm** (:class:`Alarm`) is a typed fault with a message for the operator; every alarm the
  governor raises comes with a Stop (fail closed) and needs an operator re-arm afterwards.
- :class:`Actions` is what one input returns: the commands to send now, in order, and the alarms
  to raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# --------------------------------------------------------------------------------------------
# Commands (what goes to the FTMS Control Point)


@dataclass(frozen=True, slots=True)
class Stop:
    """FTMS Stop or Pause (op 0x08) with Control Information 0x01 = Stop.

    ``reason`` is for the event log and the operator ("operator pressed stop", "link restored").
    ``emergency`` marks stops triggered by a fault or an emergency-stop input.
    ``request_control``: request control first (a Stop sent again after the treadmill refused one
    with 0x05 "control not permitted"; the Stop is written whatever that request's answer).
    """

    reason: str = ""
    emergency: bool = False
    request_control: bool = False


@dataclass(frozen=True, slots=True)
class Pause:
    """FTMS Stop or Pause (op 0x08) with Control Information 0x02 = Pause (belt to standstill)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    """FTMS Start or Resume (op 0x07). Approved only after an operator arm and the countdown."""


@dataclass(frozen=True, slots=True)
class SetSpeed:
    """FTMS Set Target Speed (op 0x02): ``kmh`` in km/h (the wire carries 0.01 km/h)."""

    kmh: float


@dataclass(frozen=True, slots=True)
class SetIncline:
    """FTMS Set Target Inclination (op 0x03): ``pct`` in percent (the wire carries 0.1 %)."""

    pct: float


Command = Stop | Pause | Start | SetSpeed | SetIncline
"""A command the service may write to the treadmill (only ever one the governor produced)."""


# --------------------------------------------------------------------------------------------
# Requests


class Source(StrEnum):
    """Who asked for a command (recorded in decisions and the event log)."""

    PROFILE = "profile"
    KEYBOARD = "keyboard"
    MQTT = "mqtt"
    OPERATOR = "operator"
    """An operator action other than the keyboard (TUI button, headless prompt, signal)."""
    GOVERNOR = "governor"
    """The governor itself (fail-closed stops)."""
    SERVICE = "service"
    """The service (e.g. shutdown in a ``finally``)."""


@dataclass(frozen=True, slots=True)
class SpeedChange:
    """Relative speed request (keyboard +/-): the last commanded target plus ``delta_kmh``."""

    delta_kmh: float


@dataclass(frozen=True, slots=True)
class InclineChange:
    """Relative incline request (keyboard +/-): the last commanded target plus ``delta_pct``."""

    delta_pct: float


Requestable = Command | SpeedChange | InclineChange
"""What a :class:`Request` may ask for."""


@dataclass(frozen=True, slots=True)
class Request:
    """A command somebody wants sent; every one goes through ``SafetyGovernor.decide``."""

    command: Requestable
    source: Source = Source.PROFILE


class Verdict(StrEnum):
    """The governor's answer to a request."""

    APPROVED = "approved"
    """Send ``Decision.command`` (the command as requested)."""
    REJECTED = "rejected"
    """Send nothing; ``Decision.reason`` says why."""
    REPLACED = "replaced"
    """Send ``Decision.command`` instead of what was asked; ``Decision.reason`` says why."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The governor's decision on one :class:`Request`.

    ``command`` is what to send (``None`` when rejected); ``reason`` is empty for a plain approval
    and otherwise a sentence for the operator ("1.6 mph exceeds the cap 1.5 mph").
    """

    verdict: Verdict
    request: Request
    command: Command | None
    reason: str = ""

    @property
    def approved(self) -> bool:
        """``True`` when there is a command to send (approved or replaced)."""
        return self.command is not None

    @property
    def commands(self) -> tuple[Command, ...]:
        """The commands to send, as a tuple (empty when rejected)."""
        return () if self.command is None else (self.command,)


# --------------------------------------------------------------------------------------------
# Events (what the service observed)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One merged Treadmill Data record (FTMS 4.9, 0x2ACD): instantaneous speed (km/h) and
    inclination (percent); ``None`` when absent or "not available". Pass its receive time as
    ``now``."""

    speed_kmh: float | None
    incline_pct: float | None = None


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The BLE link is up, control granted and notifications subscribed. After a link loss this is
    the reconnect: the governor answers with Stop first and treats the belt state as unknown."""


@dataclass(frozen=True, slots=True)
class LinkLost:
    """The BLE link dropped (bleak disconnect callback or the client's own supervision)."""


@dataclass(frozen=True, slots=True)
class SafetyKeyStop:
    """Fitness Machine Status 0x03: Stopped by Safety Key."""


@dataclass(frozen=True, slots=True)
class ControlLost:
    """Fitness Machine Status 0xFF: Control Permission Lost (or a 0x05 Control Not Permitted)."""


@dataclass(frozen=True, slots=True)
class MachineReset:
    """Fitness Machine Status 0x01: Reset (targets back to defaults, control permission revoked,
    FTMS 4.17). The treadmill is no longer following the session: halt."""


@dataclass(frozen=True, slots=True)
class UnknownStatus:
    """A Fitness Machine Status op code that is reserved (0x16-0xFE) or that the service cannot
    read: the treadmill's state is not known, so the governor fails closed."""

    opcode: int


@dataclass(frozen=True, slots=True)
class ConsoleStopped:
    """Fitness Machine Status 0x02: Stopped (``paused=False``) or Paused by the User."""

    paused: bool = False


@dataclass(frozen=True, slots=True)
class ConsoleStarted:
    """Fitness Machine Status 0x04: Started or Resumed by the User (some devices also send it
    after a control-point Start)."""


@dataclass(frozen=True, slots=True)
class TargetSpeedChanged:
    """Fitness Machine Status 0x05: Target Speed Changed, km/h (Urevo mirrors the belt in ramps)."""

    kmh: float


@dataclass(frozen=True, slots=True)
class TargetInclineChanged:
    """Fitness Machine Status 0x06: Target Incline Changed, percent."""

    pct: float


@dataclass(frozen=True, slots=True)
class DeviceRanges:
    """The device's Supported Speed Range (0x2AD4, km/h) and Supported Inclination Range (0x2AD5,
    percent), as read at connect. ``None`` fields are unknown or nonsense (e.g. all zero)."""

    min_speed_kmh: float | None = None
    max_speed_kmh: float | None = None
    speed_increment_kmh: float | None = None
    min_incline_pct: float | None = None
    max_incline_pct: float | None = None
    incline_increment_pct: float | None = None


@dataclass(frozen=True, slots=True)
class HeartRate:
    """A heart-rate sample (Heart Rate Measurement 0x2A37, or Treadmill Data's Heart Rate field),
    beats per minute. ``contact_detected``: ``None`` when the sensor does not report skin
    contact, else whether it detects it (a sample without contact, or of 0 bpm, is no
    measurement). ``source`` names where it came from ("strap", "treadmill"), for display."""

    bpm: float
    contact_detected: bool | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class HeartRateDisconnected:
    """The heart-rate source went away (the strap's link dropped): the heart rate is lost at
    once. The next :class:`HeartRate` sample is its return."""

    source: str = ""


@dataclass(frozen=True, slots=True)
class StopRefused:
    """A Stop (or Pause) the treadmill did not take: answered with an error result (0x03, 0x04,
    0x05 after the control retries), or the write failed / got no answer. ``detail`` says which
    (for the message). Harmless once telemetry shows the belt at a standstill.
    ``already_stopped``: the answer was 0x04 "operation failed", which a treadmill also gives
    when its belt is already at rest: a claim for telemetry to confirm.
    ``control_not_permitted``: the answer was 0x05 "control not permitted": only then does the
    re-sent Stop ask for control first (a second Request Control drops the link on some
    treadmills, FITSHOW / Sunny)."""

    detail: str = ""
    already_stopped: bool = False
    control_not_permitted: bool = False


@dataclass(frozen=True, slots=True)
class ControlRefused:
    """The client lost control or was refused it (``ControlChanged(granted=False)`` for a reason
    other than the link: result 0x05, Request Control refused)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetpointRefused:
    """A Set Target Speed or Inclination the treadmill refused (error result, no answer, write
    failed): the setpoint will not be reached, so the session must not wait 10 s to notice."""

    command: SetSpeed | SetIncline
    detail: str = ""


Event = (
    Telemetry
    | LinkUp
    | LinkLost
    | SafetyKeyStop
    | ControlLost
    | MachineReset
    | UnknownStatus
    | ConsoleStopped
    | ConsoleStarted
    | TargetSpeedChanged
    | TargetInclineChanged
    | DeviceRanges
    | HeartRate
    | StopRefused
    | ControlRefused
    | SetpointRefused
    | HeartRateDisconnected
)
"""Everything ``SafetyGovernor.handle`` accepts."""


# --------------------------------------------------------------------------------------------
# Alarms and actions


class AlarmKind(StrEnum):
    """Why the governor halted (DESIGN "Safety defaults"). The values match
    :class:`retro_treadmill.tui.model.AlarmKind` where both define a kind."""

    LINK_LOSS = "link_loss"
    """The BLE link dropped."""
    UNIT_MISMATCH = "unit_mismatch"
    """Reported speed near 1.609x or 1/1.609x of the target (km/h vs mph confusion)."""
    OVERSPEED = "overspeed"
    """Reported speed above the cap + 0.2 mph for 2 samples (e.g. a console override)."""
    STOP_NOT_CONFIRMED = "stop_not_confirmed"
    """Belt not below 0.1 km/h within 10 s of Stop: "PULL THE SAFETY KEY"."""
    SAFETY_KEY = "safety_key"
    """Fitness Machine Status 0x03: stopped by the safety key."""
    CONTROL_LOST = "control_lost"
    """Fitness Machine Status 0xFF: control permission lost."""
    TELEMETRY_TIMEOUT = "telemetry_timeout"
    """No Treadmill Data for 3 s while moving."""
    SETPOINT_NOT_REACHED = "setpoint_not_reached"
    """Telemetry did not confirm a speed setpoint within 10 s (the device ignores commands)."""
    HEART_RATE = "heart_rate"
    """The heart rate stayed above the configured limit."""
    HEART_RATE_LOST = "heart_rate_lost"
    """No heart-rate measurement while a heart-rate limit is set: a warning at once (no
    increases, no Stop), the minimum running speed after 30 s, Stop and the end of the session
    after 60 s (the Stop's alarm has ``warning`` false)."""
    UNEXPECTED_MOTION = "unexpected_motion"
    """The belt moves while the governor is halted (started at the console, or a device fault)."""
    INTERNAL_ERROR = "internal_error"
    """An exception inside the governor or the session (fail closed)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """A fault the operator must see. ``message`` is a full sentence for a person; ``at`` is the
    ``now`` at which it was raised."""

    kind: AlarmKind
    message: str
    at: float
    warning: bool = False
    """A warning comes without a Stop and does not halt (the heart-rate-lost warning); every
    other alarm halts with a Stop."""


@dataclass(frozen=True, slots=True)
class Actions:
    """What one input to the governor (or session) produces: the commands to send now, in order,
    and the alarms to raise. When it holds a Stop, the Stop is its only command."""

    commands: tuple[Command, ...] = ()
    alarms: tuple[Alarm, ...] = ()

    def __add__(self, other: Actions) -> Actions:
        return merge_actions(self, other)

    def __bool__(self) -> bool:
        return bool(self.commands or self.alarms)


NO_ACTIONS = Actions()
"""Nothing to send, nothing to raise."""


def merge_actions(*parts: Actions) -> Actions:
    """Concatenate several :class:`Actions`, failing closed: when any part stops the belt (Stop,
    or else Pause), that single command is all that is sent; nothing moving follows it."""
    commands = [c for p in parts for c in p.commands]
    stops: list[Command] = [c for c in commands if isinstance(c, Stop)] or [
        c for c in commands if isinstance(c, Pause)
    ]
    return Actions(
        commands=(stops[0],) if stops else tuple(commands),
        alarms=tuple(a for p in parts for a in p.alarms),
    )


__all__ = [
    "NO_ACTIONS",
    "Actions",
    "Alarm",
    "AlarmKind",
    "Command",
    "ConsoleStarted",
    "ConsoleStopped",
    "ControlLost",
    "ControlRefused",
    "Decision",
    "DeviceRanges",
    "Event",
    "HeartRate",
    "HeartRateDisconnected",
    "InclineChange",
    "LinkLost",
    "LinkUp",
    "MachineReset",
    "Pause",
    "Request",
    "Requestable",
    "SafetyKeyStop",
    "SetIncline",
    "SetSpeed",
    "SetpointRefused",
    "Source",
    "SpeedChange",
    "Start",
    "Stop",
    "StopRefused",
    "TargetInclineChanged",
    "TargetSpeedChanged",
    "Telemetry",
    "UnknownStatus",
    "Verdict",
    "merge_actions",
]
