"""The engine's status becomes the snapshot the UI draws."""

from __future__ import annotations

from retro_treadmill.profiles import load_profile
from retro_treadmill.safety.commands import Alarm as EngineAlarm
from retro_treadmill.safety.commands import AlarmKind as EngineAlarmKind
from retro_treadmill.tui.adapt import alarm_from_engine, snapshot_from_status
from retro_treadmill.tui.model import (
    VIRTUAL_TREADMILL,
    AlarmKind,
    LinkStatus,
    MqttStatus,
    ProfileInfo,
    SessionState,
)
from tests.tui.engine_double import EngineController


async def test_a_running_engine_maps_to_a_running_snapshot() -> None:
    profile = load_profile("demo")
    controller = EngineController(profile)
    await controller.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "demo"))
    controller.start(())
    controller.advance(10.0)
    status = controller.engine.status(controller.now)
    snap = snapshot_from_status(
        status, units="kmh", device_name="RetroSim", mqtt=MqttStatus.CONNECTED, distance_m=4.0
    )
    assert snap.state is SessionState.RUNNING
    assert snap.units == "kmh"
    assert snap.segment_name == "warm-up"
    assert snap.segment_index == 0
    assert snap.segment_count == 4
    assert snap.direction == "backward"
    assert snap.speed_kmh == status.speed_kmh
    assert snap.target_speed_kmh == status.target_speed_kmh
    assert snap.profile_progress == status.progress
    assert snap.link is LinkStatus.CONNECTED
    assert snap.mqtt is MqttStatus.CONNECTED
    assert snap.distance_m == 4.0
    assert snap.alarm is None


def test_pull_the_safety_key_is_acknowledgeable_only_at_a_standstill() -> None:
    fault = EngineAlarm(EngineAlarmKind.STOP_NOT_CONFIRMED, "belt still at 2 km/h", at=12.5)
    moving = alarm_from_engine(fault, standstill=False)
    assert moving.kind is AlarmKind.STOP_NOT_CONFIRMED
    assert moving.seq == 12500
    assert not moving.acknowledgeable
    assert alarm_from_engine(fault, standstill=True).acknowledgeable
    link = alarm_from_engine(
        EngineAlarm(EngineAlarmKind.LINK_LOSS, "lost", at=1.0), standstill=False
    )
    assert link.kind is AlarmKind.LINK_LOSS
    assert link.acknowledgeable


def test_every_engine_alarm_kind_has_a_ui_kind() -> None:
    for kind in EngineAlarmKind:
        alarm = alarm_from_engine(EngineAlarm(kind, "x", at=0.0), standstill=True)
        assert alarm.kind.value == kind.value
