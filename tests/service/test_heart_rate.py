"""Heart rate through the session service (issue 10): the treadmill's own Treadmill Data heart
rate is the source without a strap, and a clinic limit stops the belt on it (the reported bug: a
clinic config with max_heart_rate_bpm = 120 and a treadmill reporting 180 bpm completed)."""

from __future__ import annotations

import asyncio
import contextlib

from protocols.ftms import TreadmillData
from retro_treadmill.config import parse_config
from retro_treadmill.ftms.events import TreadmillDataEvent
from retro_treadmill.service import ExitCode, SessionService
from tests.service.conftest import STOP, Rig, until, walking


async def test_the_treadmills_heart_rate_above_the_clinic_limit_stops_the_belt(rig: Rig) -> None:
    config = parse_config("[safety]\nmax_heart_rate_bpm = 120\n")
    service = rig.service(config=config)
    bpm = [90]

    async def treadmill_heart_rate() -> None:
        # The virtual treadmill sends no heart rate: records with its belt speed and a heart
        # rate, as a treadmill with hand grips would send them, every 0.5 s of session time.
        while True:
            record = TreadmillData(speed_kmh=rig.sim.belt_speed_kmh, heart_rate_bpm=bpm[0])
            service._on_ftms_event(TreadmillDataEvent(rig.clock.now(), record))
            await rig.clock.sleep(0.5)

    async def then(service: SessionService) -> None:
        bpm[0] = 180
        await until(service, lambda: service.snapshot.alarm is not None)

    injector: asyncio.Task[None] | None = None
    frontend = walking(then)

    async def with_heart_rate(service: SessionService) -> None:
        nonlocal injector
        injector = asyncio.create_task(treadmill_heart_rate())
        await frontend(service)

    try:
        code = await service.serve(with_heart_rate)
    finally:
        if injector is not None:
            injector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await injector
    assert code is ExitCode.ALARM
    alarms = [r["alarm"] for r in service.log.records if r["kind"] == "alarm"]
    assert alarms == ["heart_rate"]
    assert STOP in [w.data for w in rig.sim.writes]
    samples = [r for r in service.log.records if r["kind"] == "heart_rate"]
    assert {r["sensor"] for r in samples} == {"treadmill"}
    assert any(r["bpm"] == 180 for r in samples)
    await rig.sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, timeout=30)


async def test_a_strap_chosen_in_the_ui_is_connected_with_the_treadmill(rig: Rig) -> None:
    from retro_treadmill.sim.strap import STRAP_ADDRESS, STRAP_NAME, VirtualStrap
    from retro_treadmill.tui.model import DeviceInfo

    strap = VirtualStrap.on_radio(
        rig.radio, clock=rig.clock, belt=lambda: (rig.sim.belt_speed_kmh, rig.sim.incline_pct)
    )
    await strap.start()
    try:
        service = rig.service(config=parse_config("[safety]\nmax_heart_rate_bpm = 180\n"))
        service.choose_strap(DeviceInfo(STRAP_NAME, STRAP_ADDRESS, kind="heart-rate"))

        async def then(service: SessionService) -> None:
            await until(service, lambda: (service.snapshot.heart_rate_bpm or 0) > 0)
            service.stop()

        code = await service.serve(walking(then))
    finally:
        await strap.close()
    assert code is ExitCode.STOPPED
    samples = [r for r in service.log.records if r["kind"] == "heart_rate"]
    assert samples
    assert {r["sensor"] for r in samples} == {f"strap {STRAP_NAME}"}
