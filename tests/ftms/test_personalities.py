"""Every personality of the virtual treadmill: connect, control, start, speed, incline, stop.

The checks are on the wire (the treadmill's recorded control-point writes and their results) and
on what the client reports (belt speed from Treadmill Data, units self-test events).
"""

from __future__ import annotations

import pytest

from retro_treadmill.ftms.events import (
    BeltStateChanged,
    CommandResult,
    Connected,
    UnitMismatch,
)
from retro_treadmill.ftms.model import BeltState, CommandKind, Outcome
from retro_treadmill.ftms.monitor import SelfTest
from retro_treadmill.ftms.quirks import DeviceQuirks
from retro_treadmill.sim import PERSONALITIES
from tests.ftms.conftest import MakeClient, MakeSim
from tests.ftms.helpers import drain, of_type, opcodes, speed_near, until

TARGET_KMH = 2.0
TARGET_INCLINE = 1.0

# What the belt settles at for TARGET_KMH, per personality (None: not the target).
EXPECTED_BELT: dict[str, float | None] = {
    "spec": 2.0,
    "lenient": 2.0,
    "urevo-e1l": 2.0,  # 0.1 mph steps: 1.25 mph rounds to a step within 0.1 km/h
    "matrix": 2.0,
    "split-records": 2.0,
    "mph-confused": 2.0 * 1.609344,
    "ignores-speed": None,
    "keeps-running-on-disconnect": 2.0,
    "stops-on-disconnect": 2.0,
    "adidas-t800": 2.0,
    "incline-stuck": 2.0,
    "speed-lost-when-stopped": None,  # the speed came before the belt moved: lost
    "kingsmith": 2.0,  # with its quirk (below): the speed waits for the belt
    "fitshow": 2.0,
    "no-incline-range": 2.0,
}

QUIRKS: dict[str, DeviceQuirks] = {"kingsmith": DeviceQuirks(wait_for_belt_before_speed=True)}
"""Personalities driven with a quirk (the virtual treadmill's name matches no table entry)."""


def test_every_personality_is_covered() -> None:
    assert set(EXPECTED_BELT) == set(PERSONALITIES)


@pytest.mark.parametrize("personality", sorted(EXPECTED_BELT))
async def test_session_on_personality(
    personality: str, make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim(personality)
    if personality in QUIRKS:
        client = await make_client(quirks=QUIRKS[personality])
    else:
        client = await make_client()
    events = client.events()
    assert client.device is not None
    assert client.device.address == "F0:F1:F2:F3:F4:F5"

    control = await client.request_control()
    assert control.outcome is Outcome.SUCCESS
    assert client.has_control
    start = await client.start()
    assert start.outcome is Outcome.SUCCESS
    speed = await client.set_target_speed(TARGET_KMH)
    assert speed.outcome is Outcome.SUCCESS
    assert speed.latency_s is not None
    incline = await client.set_target_incline(TARGET_INCLINE)
    assert incline.outcome is Outcome.SUCCESS

    expected = EXPECTED_BELT[personality]
    if expected is not None:
        await until(sim, lambda: speed_near(client, expected), 40)
    else:
        # Success, yet the belt never heads for the target (ftms-notes §6: trust telemetry).
        await until(sim, lambda: client.belt_state is BeltState.MOVING, 20)
        await sim.wait_for(lambda s: s.elapsed > 15, 20)
        assert not speed_near(client, TARGET_KMH, 0.3)

    if personality == "mph-confused":
        await until(sim, lambda: client.monitor.self_test == SelfTest.FAILED, 10)
        [mismatch] = of_type(drain(events), UnitMismatch)
        assert mismatch.target_kmh == TARGET_KMH
        assert mismatch.ratio == pytest.approx(1.609344, rel=0.05)
    else:
        if expected is not None:
            await until(sim, lambda: client.monitor.self_test == SelfTest.PASSED, 10)
        assert of_type(drain(events), UnitMismatch) == []

    stop = await client.stop()
    assert stop.outcome is Outcome.SUCCESS
    await until(sim, lambda: client.belt_state is BeltState.STOPPED, 40)
    await until(sim, lambda: sim.belt_speed_kmh == 0.0, 10)

    # The wire: Request Control, Start, Set Target Speed 2.00, Set Target Inclination 1.0, Stop.
    assert [w.data.hex() for w in sim.writes] == ["00", "07", "02c800", "030a00", "0801"]
    assert [w.result for w in sim.writes] == [1, 1, 1, 1, 1]
    assert opcodes(sim) == [0x00, 0x07, 0x02, 0x03, 0x08]
    # Write type from the characteristic's properties: the lenient (CITYSPORTS-like) treadmill
    # declares Write Without Response only.
    with_response = {w.data["with_response"] for w in client.audit.of_kind("write")}
    assert with_response == {personality != "lenient"}
    if personality == "urevo-e1l":
        assert sim.incline_pct == 0.0  # accepted, not applied: no incline motor
        assert client.device.max_incline_pct is None  # the all-zero range is no range
    elif personality in ("spec", "lenient"):
        assert sim.target_incline_pct == TARGET_INCLINE

    results = of_type(drain(events), CommandResult)
    assert [r.command.kind for r in results] == [CommandKind.STOP]
    await client.close()


async def test_events_report_connect_and_belt_state(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("spec")
    client = await make_client("RetroSim FTMS")
    stream = client.events()
    await client.start()
    await client.set_target_speed(1.5)
    await until(sim, lambda: client.belt_state is BeltState.MOVING)
    states = [e.state for e in of_type(drain(stream), BeltStateChanged)]
    assert states[-1] is BeltState.MOVING
    assert of_type(drain(stream), Connected) == []
