"""From the session engine's status to the UI's :class:`SessionSnapshot` (for the service).

The engine (:mod:`retro_treadmill.session.engine`) knows the session; the service knows the link,
the control point, MQTT, distance and heart rate. :func:`snapshot_from_status` joins them into the
one value the UI draws.
"""

from __future__ import annotations

import math

from retro_treadmill.safety.commands import Alarm as EngineAlarm
from retro_treadmill.safety.commands import AlarmKind as EngineAlarmKind
from retro_treadmill.safety.governor import HeartRateStatus
from retro_treadmill.session.engine import SessionStatus
from retro_treadmill.tui.model import (
    Alarm,
    AlarmKind,
    ControlStatus,
    HeartRateView,
    LinkStatus,
    MqttStatus,
    Rejection,
    SessionSnapshot,
    SessionState,
)
from retro_treadmill.units import SpeedUnit


def alarm_from_engine(alarm: EngineAlarm, *, standstill: bool) -> Alarm:
    """The UI alarm for a governor alarm.

    ``seq`` is the raise time in milliseconds, so each new alarm rings the bell once. "PULL THE
    SAFETY KEY" cannot be acknowledged until telemetry shows the belt at a standstill.
    """
    try:
        kind = AlarmKind(alarm.kind.value)
    except ValueError:
        kind = AlarmKind.INTERNAL_ERROR
    acknowledgeable = standstill or alarm.kind is not EngineAlarmKind.STOP_NOT_CONFIRMED
    return Alarm(kind, alarm.message, seq=round(alarm.at * 1000), acknowledgeable=acknowledgeable)


def snapshot_from_status(
    status: SessionStatus,
    *,
    units: SpeedUnit,
    device_name: str = "",
    link: LinkStatus | None = None,
    control: ControlStatus = ControlStatus.NONE,
    mqtt: MqttStatus | None = None,
    distance_m: float | None = None,
    heart_rate_bpm: int | None = None,
    rejection: Rejection | None = None,
    heart_rate: HeartRateView | None = None,
) -> SessionSnapshot:
    """One snapshot from the engine's ``status`` and what the service knows besides.

    ``link`` defaults to connected/lost from ``status.link_up``; pass ``RECONNECTING`` (or
    ``CONNECTING``) when the client says so. The newest alarm in ``status.alarms`` is shown. The
    segment is named by its kind ("warm-up", "ramp"), as the state line already numbers it.
    """
    if link is None:
        link = LinkStatus.CONNECTED if status.link_up else LinkStatus.LOST
    # A warning (heart rate lost) is the heart-rate banner, not a full-screen alarm.
    halting = [a for a in status.alarms if not a.warning]
    alarm = alarm_from_engine(halting[-1], standstill=status.standstill) if halting else None
    return SessionSnapshot(
        state=SessionState(status.state.value),
        time_s=status.time_s,
        units=units,
        countdown_s=status.countdown_s,
        speed_kmh=status.speed_kmh,
        target_speed_kmh=status.target_speed_kmh,
        incline_pct=status.incline_pct,
        target_incline_pct=status.target_incline_pct,
        standstill=status.standstill,
        elapsed_s=status.elapsed_s,
        remaining_s=status.remaining_s,
        distance_m=distance_m,
        heart_rate_bpm=heart_rate_bpm,
        heart_rate=heart_rate,
        profile_name=status.profile_name,
        profile_progress=status.progress,
        segment_index=status.segment_index,
        segment_count=status.segment_count,
        segment_name=status.segment_kind or status.segment_name,
        direction=status.direction,
        prompt=status.prompt,
        straddle=status.straddle,
        step_on=status.step_on,
        start_speed_kmh=status.start_speed_kmh,
        cue=status.cue,
        device_name=device_name,
        link=link,
        control=control,
        mqtt=mqtt,
        alarm=alarm,
        last_rejection=rejection,
        message=status.message,
    )


def heart_rate_view(status: HeartRateStatus, now: float) -> HeartRateView | None:
    """The UI's heart-rate view from the governor's (``None`` when there is nothing to show: no
    measurement and no limit)."""
    if status.bpm is None and not status.limited:
        return None

    def limit(value: float) -> int | None:
        return round(value) if math.isfinite(value) else None

    lost = status.lost_since is not None and status.limited

    def left(at: float | None) -> float | None:
        return max(0.0, at - now) if lost and at is not None and at > now else None

    return HeartRateView(
        bpm=None if status.bpm is None else round(status.bpm),
        source=status.source,
        live=status.live,
        max_bpm=limit(status.max_bpm),
        hold_bpm=limit(status.hold_bpm),
        lost=lost,
        lost_reason=status.lost_reason if lost else "",
        slow_in_s=left(status.slow_at),
        stop_in_s=left(status.stop_at),
        slowed=status.slowed,
    )


__all__ = ["alarm_from_engine", "heart_rate_view", "snapshot_from_status"]
