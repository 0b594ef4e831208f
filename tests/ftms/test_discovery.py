"""Classifying advertisements: FTMS service data (any byte order quirk), bare FTMS UUID, HR."""

from __future__ import annotations

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from retro_treadmill.ble.discovery import HEART_RATE_SERVICE_UUID, classify, looks_like_address

FTMS = "00001826-0000-1000-8000-00805f9b34fb"


def adv(
    name: str | None = "T",
    service_data: dict[str, bytes] | None = None,
    uuids: list[str] | None = None,
    rssi: int = -60,
) -> tuple[BLEDevice, AdvertisementData]:
    device = BLEDevice("AA:BB:CC:DD:EE:FF", name, None)
    data = AdvertisementData(name, {}, service_data or {}, uuids or [], None, rssi, ())
    return device, data


@pytest.mark.parametrize(
    ("payload", "available"),
    [
        (bytes.fromhex("01 01 00"), True),  # spec: flags, type u16 LE
        (bytes.fromhex("01 00 01"), True),  # type bytes reversed (pyftms comment)
        (bytes.fromhex("00 01"), False),  # one type byte, not available
    ],
)
def test_treadmill_by_service_data(payload: bytes, available: bool) -> None:
    found = classify(*adv(service_data={FTMS: payload}))
    assert found is not None
    assert found.kind == "treadmill"
    assert found.available is available
    assert found.machine_types == ("treadmill",)
    assert "treadmill" in found.describe()


def test_bike_is_a_fitness_machine_not_a_treadmill() -> None:
    found = classify(*adv(service_data={FTMS: bytes.fromhex("01 20 00")}))
    assert found is not None
    assert found.kind == "fitness-machine"
    assert found.machine_types == ("indoor-bike",)


def test_bare_ftms_uuid_or_garbled_service_data_still_counts() -> None:
    bare = classify(*adv(uuids=[FTMS]))
    assert bare is not None
    assert (bare.kind, bare.available) == ("treadmill", None)
    garbled = classify(*adv(service_data={FTMS: b"\x01"}, uuids=[FTMS]))
    assert garbled is not None
    assert garbled.kind == "treadmill"


def test_heart_rate_monitor_and_others() -> None:
    hr = classify(*adv("Polar H10", uuids=[HEART_RATE_SERVICE_UUID]))
    assert hr is not None
    assert hr.kind == "heart-rate"
    assert classify(*adv("Headphones", uuids=["0000110b-0000-1000-8000-00805f9b34fb"])) is None


@pytest.mark.parametrize(
    ("text", "is_address"),
    [
        ("F0:F1:F2:F3:F4:F5", True),
        ("f0:f1:f2:f3:f4:f5", True),
        ("00:11:22:33:44:55/P", True),
        ("6E4B1C7A-2D1F-4C3B-9A8E-0123456789AB", True),
        ("RetroSim FTMS", False),
        ("URTM051", False),
    ],
)
def test_address_or_name(text: str, is_address: bool) -> None:
    assert looks_like_address(text) is is_address


@pytest.mark.parametrize(
    ("speed", "expected"),
    [
        ((0.96, 6.43, 0.32), (0.96, 6.43, 0.32)),
        ((0.0, 0.0, 0.0), (None, None, None)),  # all zeros: no range
        ((5.0, 1.0, 0.1), (None, None, None)),  # min > max
        ((1.0, 6.0, 0.0), (1.0, 6.0, None)),  # no increment
    ],
)
def test_speed_ranges_are_sanitised(
    speed: tuple[float, float, float], expected: tuple[float | None, ...]
) -> None:
    from retro_treadmill.ftms.client import _sane_speed_range

    assert _sane_speed_range(*speed) == expected


@pytest.mark.parametrize(
    ("incline", "expected"),
    [
        ((0.0, 15.0, 0.5), (0.0, 15.0, 0.5)),
        ((-3.0, 12.0, 0.5), (-3.0, 12.0, 0.5)),
        ((0.0, 0.0, 0.0), (None, None, None)),  # Urevo E1L: no incline motor
        ((10.0, 0.0, 1.0), (None, None, None)),
    ],
)
def test_incline_ranges_are_sanitised(
    incline: tuple[float, float, float], expected: tuple[float | None, ...]
) -> None:
    from retro_treadmill.ftms.client import _sane_incline_range

    assert _sane_incline_range(*incline) == expected
