"""The port between the Textual UI and the session service.

State flows down, intents flow up:

- the service publishes immutable :class:`SessionSnapshot` values (newest wins) through
  :meth:`SessionController.snapshots`;
- the UI calls the intent methods of :class:`SessionController` (``stop``, ``pause``, ``resume``,
  ``start``, ``adjust_speed``, ``adjust_incline``, ``acknowledge_alarm``) and never changes state
  itself: what is shown is always what the service last published.

Everything here is plain data: speeds in km/h and inclines in percent (FTMS units, DESIGN rule 5);
the UI converts to mph for display only. The UI never imports the service, the FTMS client or the
governor; a test double that implements :class:`SessionController` drives the UI in tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from retro_treadmill.units import SpeedUnit

if TYPE_CHECKING:
    from retro_treadmill.session.plan import SpeedPlan
    from retro_treadmill.session.profile import Profile


class SessionState(StrEnum):
    """The session state machine's states (issue 5); the UI picks its screen from them."""

    IDLE = "idle"
    """Nothing selected or prepared yet."""
    PREFLIGHT = "preflight"
    """Connected, profile loaded, waiting for the checklist and :meth:`SessionController.start`."""
    COUNTDOWN = "countdown"
    """Counting down (``SessionSnapshot.countdown_s``) to the profile's start speed."""
    RUNNING = "running"
    """The profile drives the belt."""
    PAUSED = "paused"
    """Belt commanded to stop (FTMS Stop/Pause 0x08 parameter 0x02); resumes only on an operator
    :meth:`SessionController.resume`, and only once the belt is at a standstill."""
    STOPPING = "stopping"
    """Stop sent; waiting for telemetry to show the belt below the stop threshold."""
    FINISHED = "finished"
    """Profile completed or stopped; the belt is stopped. Nothing starts again by itself."""
    ALARM = "alarm"
    """A fault stopped the session; ``SessionSnapshot.alarm`` says which."""


class LinkStatus(StrEnum):
    """Bluetooth LE link to the treadmill."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    """Not connected on purpose (before connecting, after the session)."""


class ControlStatus(StrEnum):
    """Ownership of the FTMS Control Point (FTMS 4.16: Request Control, op code 0x00)."""

    NONE = "none"
    """Control not requested yet."""
    REQUESTING = "requesting"
    GRANTED = "granted"
    LOST = "lost"
    """Machine status 0xFF (Control Permission Lost) or a 0x05 response: re-arm needed."""


class MqttStatus(StrEnum):
    """Telemetry publisher connection (``SessionSnapshot.mqtt`` is ``None`` when not configured)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class AlarmKind(StrEnum):
    """Why a full-screen alarm is up (DESIGN "Safety defaults")."""

    LINK_LOSS = "link_loss"
    UNIT_MISMATCH = "unit_mismatch"
    """Reported speed near 1.609x or 1/1.609x of the target."""
    OVERSPEED = "overspeed"
    """Reported speed above the cap + 0.2 mph for 2 samples (console override)."""
    STOP_NOT_CONFIRMED = "stop_not_confirmed"
    """Belt not below 0.1 km/h within 10 s of Stop: the UI says "PULL THE SAFETY KEY"."""
    SAFETY_KEY = "safety_key"
    """Machine status 0x02 parameter 0x03: stopped by the safety key."""
    CONTROL_LOST = "control_lost"
    """Machine status 0xFF: control permission lost."""
    TELEMETRY_TIMEOUT = "telemetry_timeout"
    """No Treadmill Data for 3 s while moving."""
    SETPOINT_NOT_REACHED = "setpoint_not_reached"
    """Telemetry did not confirm a setpoint within 10 s."""
    UNEXPECTED_MOTION = "unexpected_motion"
    """The belt moves while halted (started at the console, or a device fault)."""
    HEART_RATE = "heart_rate"
    """A heart-rate limit was exceeded."""
    HEART_RATE_LOST = "heart_rate_lost"
    """The heart rate was lost for 60 s while a limit was set (the warning before is a banner)."""
    INTERNAL_ERROR = "internal_error"
    """An exception in the service or the UI (fail closed)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """An active alarm. The UI shows it full screen with a terminal bell until it is cleared.

    ``message`` is the sentence for the operator ("No telemetry from URBAN-E1L for 3.0 s").
    ``seq`` increases with every new alarm so the UI can ring the bell once per alarm.
    ``acknowledgeable`` is ``False`` while acknowledging is not allowed (e.g. the belt is still
    moving after Stop); the UI then hides the acknowledge key.
    """

    kind: AlarmKind
    message: str
    seq: int = 0
    acknowledgeable: bool = True


@dataclass(frozen=True, slots=True)
class Rejection:
    """The safety governor refused (or replaced) an operator request.

    ``request`` says what was asked ("speed +0.1 mph"), ``reason`` why it was refused
    ("1.6 mph exceeds the cap 1.5 mph"). ``seq`` increases with every rejection so a repeated
    identical rejection still shows as new.
    """

    request: str
    reason: str
    seq: int = 0


@dataclass(frozen=True, slots=True)
class HeartRateView:
    """The heart rate as shown: the value, where it comes from and the governor's view.

    ``bpm`` is the last measurement (``None`` before any); ``source`` ``"strap NAME"`` or
    ``"treadmill"``; ``live`` whether it is current. ``max_bpm`` / ``hold_bpm`` are the limits
    (``None`` when not set). While lost, ``lost_reason`` says why and ``slow_in_s`` /
    ``stop_in_s`` count down to the slow-down and the Stop (``None`` once passed or not lost).
    ``slowed``: the belt was slowed and the ramp waits for the operator (``r``).
    """

    bpm: int | None = None
    source: str = ""
    live: bool = False
    max_bpm: int | None = None
    hold_bpm: int | None = None
    lost: bool = False
    lost_reason: str = ""
    slow_in_s: float | None = None
    stop_in_s: float | None = None
    slowed: bool = False


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """Everything the UI shows, as one immutable value (speeds km/h, inclines %, times s).

    The service publishes a new snapshot whenever something changes (telemetry at up to 10 Hz,
    state changes, status changes). ``None`` means unknown or not available; the UI shows "--".
    """

    state: SessionState = SessionState.IDLE
    time_s: float = 0.0
    """Session clock (seconds, monotonic, possibly time-scaled); the UI plots against it."""
    units: SpeedUnit = "mph"
    """Display unit for speeds (``--units``); values in this snapshot are km/h regardless."""
    countdown_s: float | None = None
    """Seconds left in the countdown (state ``countdown``)."""

    speed_kmh: float | None = None
    """Actual belt speed from Treadmill Data (FTMS 4.9, Instantaneous Speed), km/h."""
    target_speed_kmh: float | None = None
    """Last speed commanded (approved by the governor), km/h."""
    incline_pct: float | None = None
    """Actual inclination from Treadmill Data (FTMS 4.9, Inclination), percent."""
    target_incline_pct: float | None = None
    """Last inclination commanded, percent."""
    standstill: bool = True
    """Telemetry confirms the belt below the stop threshold (0.1 km/h); resume needs this."""

    elapsed_s: float = 0.0
    """Session time since the countdown ended, seconds (pauses excluded)."""
    remaining_s: float | None = None
    """Profile time left, seconds."""
    distance_m: float | None = None
    """Distance walked this session, metres."""
    heart_rate_bpm: int | None = None
    """Heart rate from a Heart Rate Service sensor or Treadmill Data, beats per minute."""
    heart_rate: HeartRateView | None = None
    """The heart rate's source, liveness and lost-signal countdowns (``None``: no heart rate
    and no limit)."""

    profile_name: str = ""
    profile_progress: float = 0.0
    """Fraction of the profile done, 0..1."""
    segment_index: int | None = None
    """Index of the current segment, 0-based."""
    segment_count: int = 0
    segment_name: str = ""
    direction: str = ""
    """``"backward"``, ``"forward"`` or ``""`` when not walking."""
    prompt: str = ""
    """Instruction for the walker ("walk backwards, hold the rails", "turn around")."""
    straddle: bool = False
    """The walker must stay on the side rails: counting down, or the belt not yet confirmed at the
    start speed by telemetry."""
    step_on: bool = False
    """Telemetry confirms the belt at the start speed: show STEP ON (for a few seconds)."""
    start_speed_kmh: float | None = None
    """The speed the belt starts at after the countdown, km/h."""
    cue: str = ""
    """A rotating posture cue during backward segments (``""`` otherwise)."""

    device_name: str = ""
    link: LinkStatus = LinkStatus.DISCONNECTED
    control: ControlStatus = ControlStatus.NONE
    mqtt: MqttStatus | None = None
    """``None`` when MQTT is not configured."""

    alarm: Alarm | None = None
    last_rejection: Rejection | None = None
    message: str = ""
    """A one-line status note from the service ("Stop sent", "waiting for belt to stop")."""
    warnings: tuple[str, ...] = ()
    """What failed beside the session and did not stop it (the event log, the recorder)."""
    summary: str = ""
    """Once the session is over: its summary block (time, distance, speeds run against the
    prescription per segment, alarms, outcome)."""
    speed_plan: SpeedPlan | None = None
    """The profile's speeds as this treadmill runs them, known once connected (preflight)."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A treadmill the operator can choose (a scan result, or the virtual treadmill)."""

    name: str
    address: str
    """Bluetooth address (or platform UUID); for the virtual treadmill a descriptive token."""
    rssi_dbm: int | None = None
    virtual: bool = False
    kind: str = "treadmill"
    """``"treadmill"``, or ``"heart-rate"`` for a heart-rate strap (chosen beside the treadmill)."""


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """A profile as listed for selection (the service loads the full profile by ``key``)."""

    key: str
    """Name or path the service loads it by (as for ``run --profile``)."""
    name: str
    description: str
    duration_s: float
    speed_min_kmh: float
    speed_max_kmh: float
    incline_min_pct: float
    incline_max_pct: float
    audience: str = ""
    harness: bool = False
    """The profile asks for a harness (adds it to the preflight checklist as mandatory)."""

    @classmethod
    def from_profile(cls, profile: Profile, key: str) -> ProfileInfo:
        """The listing of a loaded, validated :class:`~retro_treadmill.session.profile.Profile`."""
        speed_min, speed_max = profile.speed_range_kmh
        incline_min, incline_max = profile.incline_range_pct
        return cls(
            key=key,
            name=profile.name,
            description=profile.description.strip(),
            duration_s=profile.total_duration_s,
            speed_min_kmh=speed_min,
            speed_max_kmh=speed_max,
            incline_min_pct=incline_min,
            incline_max_pct=incline_max,
            audience=profile.audience,
            harness=bool(getattr(profile, "harness", False)),
        )


class StopSource(StrEnum):
    """Who asked for a stop (recorded in the event log)."""

    KEYBOARD = "keyboard"
    """A stop key (space, escape, ``s``) or a click on STOP."""
    UI_EXCEPTION = "ui-exception"
    """An unhandled exception in the UI (fail closed)."""
    UI_EXIT = "ui-exit"
    """The UI is closing."""
    ALARM_SCREEN = "alarm-screen"
    """Stop pressed on the alarm screen."""


@runtime_checkable
class SessionController(Protocol):
    """The intents the UI sends to the session service.

    Every intent method is synchronous and returns at once: it records the intent and lets the
    service act on it (through the safety governor) in its own tasks. Intents never raise for a
    refused request: the refusal comes back as ``SessionSnapshot.last_rejection``.
    """

    def stop(self, source: StopSource) -> None:
        """Stop the belt now (FTMS Stop/Pause 0x08, parameter 0x01).

        Must not await, block, or wait behind any other command; it is called straight from the key
        handler, from the UI's exception handler and on exit. Idempotent and safe in every state
        (including before a device is connected); never raises.
        """
        ...

    def pause(self) -> None:
        """Pause: bring the belt to a standstill (FTMS Stop/Pause 0x08, parameter 0x02)."""
        ...

    def resume(self) -> None:
        """Resume a paused session (operator action; also confirms a "turn around" prompt).

        The service refuses (``last_rejection``) unless the belt is at a standstill.
        """
        ...

    def start(self, checklist: Sequence[str]) -> None:
        """Start the countdown after the preflight checklist.

        ``checklist`` lists the items the operator ticked, for the event log. The UI only offers
        Start when every item is ticked.
        """
        ...

    def adjust_speed(self, delta_kmh: float) -> None:
        """Ask for the target speed to change by ``delta_kmh`` (km/h, may be negative)."""
        ...

    def adjust_incline(self, delta_pct: float) -> None:
        """Ask for the target inclination to change by ``delta_pct`` (percent, may be negative)."""
        ...

    def acknowledge_alarm(self) -> None:
        """The operator has seen the alarm. Clears it (the belt stays stopped; no resume)."""
        ...

    async def prepare(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        """Connect to ``device`` and load ``profile``; afterwards the state is ``preflight``.

        The UI runs this in a worker and shows progress. Raises
        :class:`retro_treadmill.errors.RetroTreadmillError` with an operator-readable message on
        failure (the UI shows it and returns to device selection).
        """
        ...

    def snapshots(self) -> AsyncIterator[SessionSnapshot]:
        """The stream of snapshots, starting with the current one.

        The iterator should yield only the newest snapshot when the consumer falls behind
        (conflate; the UI redraws at most about 10 times per second). It ends when the service
        shuts down.
        """
        ...


DeviceScanner = Callable[[], Awaitable[Sequence[DeviceInfo]]]
"""Scans for treadmills (e.g. a few seconds of BLE scanning); the UI runs it in a worker."""

ProfileSource = Sequence[ProfileInfo] | Callable[[], Sequence[ProfileInfo]]
"""The profiles to offer: a list, or a callable the UI calls once when the list is shown."""

VIRTUAL_TREADMILL = DeviceInfo(name="Virtual treadmill", address="virtual", virtual=True)
"""The entry for the built-in virtual treadmill (``--simulate``)."""

__all__ = [
    "VIRTUAL_TREADMILL",
    "Alarm",
    "AlarmKind",
    "ControlStatus",
    "DeviceInfo",
    "DeviceScanner",
    "HeartRateView",
    "LinkStatus",
    "MqttStatus",
    "ProfileInfo",
    "ProfileSource",
    "Rejection",
    "SessionController",
    "SessionSnapshot",
    "SessionState",
    "StopSource",
]
