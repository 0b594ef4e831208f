"""Fixtures: a virtual radio with the test peripheral, and an adapter on the same radio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from retro_treadmill.ble.adapter import Adapter, open_adapter
from retro_treadmill.ble.radio import VirtualRadio
from tests.ble.peripheral import TestPeripheral


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio() as virtual_radio:
        yield virtual_radio


@pytest.fixture
async def peripheral(radio: VirtualRadio) -> TestPeripheral:
    return await TestPeripheral.start(radio)


@pytest.fixture
async def adapter(radio: VirtualRadio) -> AsyncIterator[Adapter]:
    async with open_adapter(radio) as opened:
        yield opened
