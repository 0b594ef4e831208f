"""The --fault specification syntax."""

from __future__ import annotations

import random

import pytest

from retro_treadmill.errors import ConfigError
from retro_treadmill.sim.faults import Fault, FaultKind, parse_fault


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("drop-link@12s", Fault(FaultKind.DROP_LINK, at=12.0)),
        ("safety-key@500ms", Fault(FaultKind.SAFETY_KEY, at=0.5)),
        ("console-speed-up:by=0.5@20s", Fault(FaultKind.CONSOLE_SPEED_UP, at=20.0, speed_kmh=0.5)),
        ("result:code=5,op=2,count=2", Fault(FaultKind.RESULT, code=5, opcode=2, count=2)),
        (
            "delay-notifications:by=2s,for=1m@5",
            Fault(FaultKind.DELAY_NOTIFICATIONS, at=5.0, delay_s=2.0, duration_s=60.0),
        ),
        ("drop-notifications:only=2acd", Fault(FaultKind.DROP_NOTIFICATIONS, only="2ACD")),
        ("reboot:after=3s@1m", Fault(FaultKind.REBOOT, at=60.0, delay_s=3.0)),
    ],
)
def test_fault_specs_parse(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected


def test_speed_in_mph_is_converted_to_kmh() -> None:
    assert parse_fault("console-speed-down:by=1mph").speed_kmh == pytest.approx(1.609344)


def test_random_time_is_seeded_and_inside_the_window() -> None:
    a = parse_fault("drop-link@5s..20s", rng=random.Random(7))
    b = parse_fault("drop-link@5s..20s", rng=random.Random(7))
    assert a.at == b.at
    assert 5.0 <= a.at <= 20.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode@1s", "unknown fault 'explode'"),
        ("drop-link@soon", "not a duration"),
        ("safety-key:by=2", "not an option of safety-key"),
        ("console-speed-up:by=fast", "not a speed"),
        ("result:code=x", "not an integer"),
        ("drop-link@20s..5s", "ends before it starts"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fault(spec)


def test_repeating_drop_link() -> None:
    assert parse_fault("drop-link:every=20s..1m@5s").every == (20.0, 60.0)
    assert parse_fault("drop-link:every=30s").every == (30.0, 30.0)
    with pytest.raises(ConfigError, match="positive gap"):
        parse_fault("drop-link:every=0s")
