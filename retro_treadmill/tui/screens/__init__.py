"""The screens of the retro-treadmill UI."""

from retro_treadmill.tui.checklist import checklist_for
from retro_treadmill.tui.screens.alarm import AlarmScreen
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.tui.screens.countdown import CountdownScreen
from retro_treadmill.tui.screens.preflight import PreflightScreen
from retro_treadmill.tui.screens.screening import ScreeningScreen
from retro_treadmill.tui.screens.select import ConnectingScreen, DeviceScreen, ProfileScreen
from retro_treadmill.tui.screens.session import SessionScreen

__all__ = [
    "AlarmScreen",
    "ConnectingScreen",
    "CountdownScreen",
    "DeviceScreen",
    "PreflightScreen",
    "ProfileScreen",
    "RetroScreen",
    "ScreeningScreen",
    "SessionScreen",
    "checklist_for",
]
