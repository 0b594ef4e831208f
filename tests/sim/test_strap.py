"""The virtual heart-rate strap (issue 10): its physiology and kinds (sans-IO), and the strap on a
virtual radio reached by the strap client through our bleak backend: samples, a dropped link and
the reconnect, a strap that goes away for good."""

from __future__ import annotations

import asyncio

import pytest

from protocols.heart_rate import HeartRateMeasurement
from retro_treadmill.ble.adapter import open_adapter
from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.ble.strap import StrapClient
from retro_treadmill.clock import ScaledClock
from retro_treadmill.errors import ConfigError
from retro_treadmill.sim.heart import (
    HeartModel,
    StrapBehaviour,
    StrapCore,
    StrapKind,
    parse_strap_kind,
)
from retro_treadmill.sim.strap import STRAP_NAME, VirtualStrap, split_faults
from retro_treadmill.units import mph_to_kmh


def run_strap(kind: str, seconds: int, speed_kmh: float = 1.6) -> list[HeartRateMeasurement | None]:
    core = StrapCore(parse_strap_kind(kind))
    core.connected(0.0)
    return [core.sample(float(t), speed_kmh, 0.0).measurement for t in range(seconds)]


def test_the_heart_follows_speed_and_incline_with_a_lag() -> None:
    heart = HeartModel()
    assert heart.step(0.0, 0.0, 0.0) == pytest.approx(70.0)
    one_mph = mph_to_kmh(1.0)
    goal = HeartModel.steady_state(one_mph, 2.0)
    assert goal == pytest.approx(70 + 30 + 6, abs=0.5)  # ~3 bpm per 0.1 mph and per % incline
    assert heart.step(5.0, one_mph, 2.0) < 70 + 0.5 * (goal - 70)  # lags behind
    assert heart.step(30.0, one_mph, 2.0) == pytest.approx(goal, abs=0.06 * (goal - 70))


def test_the_kinds() -> None:
    steady = run_strap("steady", 120)
    assert all(m is not None and m.contact_detected and 70 <= m.bpm < 130 for m in steady)
    rising = run_strap("rising", 120)
    assert rising[-1] is not None
    assert rising[-1].bpm > 150
    dropout = run_strap("dropout@20s", 40)
    assert all(m is not None for m in dropout[:20])
    assert all(m is None for m in dropout[20:])
    no_contact = run_strap("no-contact@20s", 40)
    assert all(m == HeartRateMeasurement(0, contact_detected=False) for m in no_contact[20:])
    bursts = run_strap("zero-bursts@5s", 60)
    zeros = [t for t, m in enumerate(bursts) if m is not None and m.bpm == 0]
    assert zeros[:3] == [5, 6, 7]
    # never 5 s in a row without a measurement (the governor's loss threshold): 3 at most
    run = longest = 0
    for m in bursts:
        run = run + 1 if m is None or m.bpm == 0 else 0
        longest = max(longest, run)
    assert longest == 3
    assert all(m is not None for m in bursts)
    core = StrapCore(StrapKind(StrapBehaviour.DISCONNECT, 3.0))
    core.connected(0.0)
    assert [core.sample(float(t), 1.0, 0.0).disconnect for t in range(6)] == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]


def test_bad_kinds_and_strap_faults() -> None:
    with pytest.raises(ConfigError, match="steady, rising, dropout"):
        parse_strap_kind("flatline")
    assert parse_strap_kind("dropout").onset_s == 20.0
    assert parse_strap_kind("dropout@1m").onset_s == 60.0
    assert split_faults(["drop-link@5s", "hr.drop-link@9s"]) == (["drop-link@5s"], ["drop-link@9s"])


async def test_the_strap_client_hears_the_strap_and_reconnects_after_a_dropped_link() -> None:
    clock = ScaledClock(10.0)
    samples: list[HeartRateMeasurement] = []
    events: list[str] = []
    changed = asyncio.Event()

    def note(text: str) -> None:
        events.append(text)
        changed.set()

    def sample(measurement: HeartRateMeasurement) -> None:
        samples.append(measurement)
        changed.set()

    async with VirtualRadio() as radio:
        strap = VirtualStrap.on_radio(
            radio, clock=clock, belt=lambda: (1.6, 0.0), faults=["drop-link@4s"]
        )
        await strap.start()
        try:
            async with open_adapter(radio) as adapter:
                client = StrapClient(
                    adapter,
                    STRAP_NAME,
                    on_sample=sample,
                    on_lost=lambda why: note(f"lost: {why}"),
                    on_connected=lambda name: note(f"connected {name}"),
                )
                task = asyncio.create_task(client.run())
                try:
                    async with asyncio.timeout(15):
                        while client.connects < 2 or len(samples) < 3:
                            await changed.wait()
                            changed.clear()
                finally:
                    client.stop()
                    await asyncio.wait_for(task, 5.0)
        finally:
            await strap.close()
    assert events[0] == f"connected {STRAP_NAME}"
    assert events[1].startswith("lost: the heart-rate strap")
    assert events[2] == f"connected {STRAP_NAME}"
    assert all(s.contact_detected and 70 <= s.bpm <= 110 for s in samples)


async def test_a_strap_that_disconnects_for_good_is_reported_once() -> None:
    clock = ScaledClock(10.0)
    lost: list[str] = []
    samples: list[HeartRateMeasurement] = []
    gone = asyncio.Event()

    def on_lost(why: str) -> None:
        lost.append(why)
        gone.set()

    async with VirtualRadio() as radio:
        strap = VirtualStrap.on_radio(radio, clock=clock, kind="disconnect@3s")
        await strap.start()
        try:
            async with open_adapter(radio) as adapter:
                client = StrapClient(adapter, STRAP_NAME, on_sample=samples.append, on_lost=on_lost)
                task = asyncio.create_task(client.run())
                try:
                    async with asyncio.timeout(10):
                        await gone.wait()
                    await asyncio.sleep(1.0)  # 10 sim seconds: no reconnect
                    assert client.connects == 1
                    assert not client.connected
                finally:
                    client.stop()
                    await asyncio.wait_for(task, 5.0)
        finally:
            await strap.close()
    assert len(lost) == 1
    assert samples


async def test_scan_lists_the_virtual_strap_as_a_heart_rate_monitor() -> None:
    from retro_treadmill.ble.discovery import scan

    async with VirtualRadio() as radio:
        strap = VirtualStrap.on_radio(radio, clock=ScaledClock(10.0))
        await strap.start()
        try:
            async with open_adapter(radio) as adapter:
                found = await scan(adapter, timeout=1.0)
        finally:
            await strap.close()
    straps = [d for d in found if d.kind == "heart-rate"]
    assert [d.name for d in straps] == [STRAP_NAME]
    assert "heart-rate" in straps[0].describe()
