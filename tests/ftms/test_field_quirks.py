"""Issue 13 point 9 and point 2's offset: field quirks on the wire, each with the virtual
treadmill personality that behaves like the machines reported in the field."""

from __future__ import annotations

import pytest

from retro_treadmill.errors import ConfigError
from retro_treadmill.ftms.client import EventStream
from retro_treadmill.ftms.events import LinkLost, TreadmillDataEvent
from retro_treadmill.ftms.model import BeltState, Outcome
from retro_treadmill.ftms.quirks import (
    DeviceQuirks,
    load_quirks_table,
    merge_overrides,
    parse_quirks_table,
)
from tests.ftms.conftest import MakeClient, MakeSim
from tests.ftms.helpers import drain, of_type, opcodes, speed_near, until


async def test_a_kingsmith_pad_drops_the_link_on_a_speed_before_the_belt_moves(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    # Without the quirk (a name the table does not know) the personality drops the link ...
    sim = await make_sim("kingsmith")
    client = await make_client()
    events = client.events()
    assert (await client.start()).outcome is Outcome.SUCCESS
    await client.set_target_speed(2.0)
    await until(sim, lambda: bool(of_type(drain(events), LinkLost)), 10)


async def test_the_shipped_kingsmith_quirk_waits_for_the_belt(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    # ... with the name a KingSmith pad advertises, the shipped quirk holds the speed until
    # the belt moves, and the link stays up.
    sim = await make_sim("kingsmith", name="KS-ST A1P")
    client = await make_client()
    events = client.events()
    assert client.quirks.wait_for_belt_before_speed
    await client.start()
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    await until(sim, lambda: speed_near(client, 2.0), 40)
    assert of_type(drain(events), LinkLost) == []


async def test_a_speed_lost_while_the_belt_stands_is_saved_by_waiting_for_the_belt(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("speed-lost-when-stopped")
    client = await make_client(quirks=DeviceQuirks(wait_for_belt_before_speed=True))
    await client.start()
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    await until(sim, lambda: speed_near(client, 2.0), 40)


async def test_control_is_requested_once_per_connection(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    # FITSHOW / Sunny break when Request Control precedes every setpoint (the personality
    # drops the link at a second request); the client asks once per connection.
    sim = await make_sim("fitshow")
    client = await make_client()
    events = client.events()
    await client.start()
    for kmh in (1.0, 1.5, 2.0):
        assert (await client.set_target_speed(kmh)).outcome is Outcome.SUCCESS
    assert (await client.set_target_incline(1.0)).outcome is Outcome.SUCCESS
    assert (await client.stop()).outcome is Outcome.SUCCESS
    assert opcodes(sim).count(0x00) == 1
    assert of_type(drain(events), LinkLost) == []


async def test_request_control_before_each_command_breaks_a_fitshow(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    # The personality is real: the per-command quirk (right for a MyRun) breaks this one.
    sim = await make_sim("fitshow")
    client = await make_client(quirks=DeviceQuirks(request_control_before_each_command=True))
    events = client.events()
    await client.start()
    await client.set_target_speed(1.5)
    await until(sim, lambda: bool(of_type(drain(events), LinkLost)), 10)


async def test_no_inclination_range_and_an_unreadable_training_status(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("no-incline-range")
    client = await make_client()
    assert client.device is not None
    assert client.device.max_incline_pct is None  # unknown: the clinic's caps apply
    assert client.device.max_speed_kmh is not None
    await client.start()
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    assert (await client.set_target_incline(1.0)).outcome is Outcome.SUCCESS
    await until(sim, lambda: speed_near(client, 2.0), 40)
    assert client.belt_state is BeltState.MOVING


async def test_the_incline_offset_quirk_corrects_reported_incline(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    # adidas T-800 reports 6 % at level (QZ #5113).
    await make_sim("adidas-t800")
    plain = await make_client()
    events = plain.events()
    first = await _next_record(events)
    assert first.record.inclination_pct == pytest.approx(6.0)
    await plain.close()
    table = merge_overrides(load_quirks_table(), {"RetroSim": {"incline_offset": 6.0}})
    fixed = await make_client(quirks_table=table)
    assert fixed.quirks.incline_offset == 6.0
    record = (await _next_record(fixed.events())).record
    assert record.inclination_pct == pytest.approx(0.0)


async def _next_record(events: EventStream) -> TreadmillDataEvent:
    while True:
        event = await events.__anext__()
        if isinstance(event, TreadmillDataEvent) and event.record.inclination_pct is not None:
            return event


def test_incline_offset_may_be_negative_but_must_be_a_number() -> None:
    table = parse_quirks_table({"defaults": {"incline_offset": -1.5}})
    assert table.for_name("x").incline_offset == -1.5
    with pytest.raises(ConfigError, match="incline_offset must be a finite number"):
        parse_quirks_table({"defaults": {"incline_offset": float("nan")}})


def test_no_shipped_quirk_turns_the_unit_self_test_off() -> None:
    table = load_quirks_table()
    assert table.defaults.get("unit_self_test", True) is True
    assert all(e.settings.get("unit_self_test", True) is True for e in table.entries)
