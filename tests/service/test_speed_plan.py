"""The service's start gate for the speed plan (issue 13, point 5): on a treadmill whose steps
move a prescription by more than 0.05 mph, Start needs the acceptance item among the ticked
checklist; nothing is written to the treadmill before."""

from __future__ import annotations

import asyncio

from retro_treadmill.profiles import load_profile
from retro_treadmill.service import SessionService
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo
from tests.service.conftest import make_rig, until

CHECKLIST = ["deck clear", "safety key", "rails"]


async def test_start_without_accepting_the_speed_difference_is_refused_and_sends_nothing() -> None:
    async with make_rig(personality="lenient") as rig:
        profile = load_profile("steady")
        service = rig.service(profile=profile, profile_key="steady")

        async def frontend(svc: SessionService) -> None:
            await svc.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "steady"))
            plan = svc.speed_plan
            assert plan is not None
            assert plan.needs_acceptance
            assert svc.snapshot.speed_plan == plan
            svc.start(CHECKLIST)
            await until(svc, lambda: svc.snapshot.last_rejection is not None, timeout=5)
            rejection = svc.snapshot.last_rejection
            assert rejection is not None
            assert rejection.request == "start"
            assert "accept them first" in rejection.reason
            await asyncio.sleep(0.3)
            assert svc.snapshot.state.value == "preflight"
            assert not [w for w in rig.sim.writes if w.data[:1] in (b"\x07", b"\x02")]
            # ticked: the countdown runs
            svc.start([*CHECKLIST, plan.acceptance_item(svc.units)])
            await until(svc, lambda: svc.snapshot.state.value in ("countdown", "running"), 10)
            svc.stop()

        await asyncio.wait_for(service.serve(frontend), 60)
