"""Fixtures for the UI tests: a recording controller and an app built on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL
from tests.tui.fakes import PROFILES, FakeController


@pytest.fixture
def controller() -> FakeController:
    return FakeController()


@pytest.fixture
def make_app(controller: FakeController) -> Callable[..., RetroTreadmillApp]:
    def make(**options: Any) -> RetroTreadmillApp:
        options.setdefault("devices", [VIRTUAL_TREADMILL])
        options.setdefault("profiles", PROFILES)
        options.setdefault("alarm_bell_interval_s", 0.0)
        options.setdefault("redraw_interval_s", 0.0)  # the fake queues every snapshot
        return RetroTreadmillApp(controller, **options)

    return make
