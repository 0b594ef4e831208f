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
        # every parameter is checked for range, not only for its type
        ("result:code=999", r"code=999: a result code is one byte, 0-255"),
        ("result:code=-1", r"code=-1: a result code is one byte, 0-255"),
        ("result:op=256", r"op=256: an op code is one byte, 0-255"),
        ("result:count=-2", r"count=-2: write a count of 1 or more"),
        ("lose-responses:count=0", r"count=0: write a count of 1 or more"),
        ("delay-responses:count=-1", r"count=-1: write a count of 1 or more"),
        ("result:count=99999999", r"count=99999999: at most 1000000"),
        ("result:count=1.5", "not an integer"),
        ("drop-notifications:for=0s", r"for=0s: write a duration above 0"),
        ("delay-notifications:by=0", r"by=0: write a duration above 0"),
        ("delay-responses:by=0ms", r"by=0ms: write a duration above 0"),
        ("drop-notifications:for=2000h", "not a duration"),
        ("drop-notifications:for=100000s", r"for=100000s: at most 86400 s"),
        ("drop-link@100000s", r"@100000s: at most 86400 s"),
        ("console-speed-up:by=0", r"by=0: write a speed above 0"),
        ("console-speed-up:by=30kmh", r"by=30kmh: at most 10 km/h"),
        ("console-speed-down:by=-1mph", "not a speed"),
        ("drop-link:every=-5s", "not a duration"),
        ("result:count=1,count=2", "count is given twice"),
        ("lose-responses:count", "count needs a value"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_fault(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("result:code=0xff,op=0", Fault(FaultKind.RESULT, code=255, opcode=0)),
        ("result:code=1,count=1000000", Fault(FaultKind.RESULT, code=1, count=1_000_000)),
        ("reboot:after=0s", Fault(FaultKind.REBOOT, delay_s=0.0)),
        ("drop-link@86400s", Fault(FaultKind.DROP_LINK, at=86400.0)),
        ("console-speed-up:by=10kmh", Fault(FaultKind.CONSOLE_SPEED_UP, speed_kmh=10.0)),
    ],
)
def test_values_at_the_edge_of_each_range_are_accepted(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected


def test_repeating_drop_link() -> None:
    assert parse_fault("drop-link:every=20s..1m@5s").every == (20.0, 60.0)
    assert parse_fault("drop-link:every=30s").every == (30.0, 30.0)
    with pytest.raises(ConfigError, match="positive gap"):
        parse_fault("drop-link:every=0s")
