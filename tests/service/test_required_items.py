"""The service refuses a start whose checklist lacks a required item (the spotter), whatever the
front end did: the second line behind the preflight screen."""

from __future__ import annotations

import asyncio

from retro_treadmill.screening import SPOTTER_ITEM
from retro_treadmill.service import ExitCode, SessionService
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo, StopSource
from tests.service.conftest import Rig, until

CHECKLIST = ["deck clear", "safety key", "rails", "harness"]
REASON = "the screening answered yes to: balance problems, or a fall in the last year"


async def test_a_start_without_the_spotter_item_is_refused_with_the_reason(rig: Rig) -> None:
    service = rig.service()
    service.required_items[SPOTTER_ITEM] = REASON
    seen: list[str] = []

    async def frontend(service: SessionService) -> None:
        profile = service.profile
        assert profile is not None
        await service.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "demo"))
        service.start(CHECKLIST)
        await until(service, lambda: service.snapshot.last_rejection is not None, timeout=5)
        rejection = service.snapshot.last_rejection
        assert rejection is not None
        seen.append(rejection.reason)
        await asyncio.sleep(0.5)  # 5 s of session time: nothing counts down, nothing moves
        assert service.snapshot.state.value == "preflight"
        assert not rig.sim.running
        # Ticked: the countdown runs (after fresh telemetry shows the belt standing still).
        async with asyncio.timeout(20):
            while service.snapshot.state.value not in ("countdown", "running"):
                service.start([*CHECKLIST, SPOTTER_ITEM])
                await asyncio.sleep(0.1)
        service.stop(StopSource.KEYBOARD)
        await until(service, service.session_over)

    code = await service.serve(frontend)
    assert seen == [f"'{SPOTTER_ITEM}' must be ticked: {REASON}"]
    assert code is ExitCode.STOPPED
    assert rig.sim.belt_speed_kmh == 0.0
