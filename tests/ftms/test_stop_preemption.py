"""Stop overtakes a pending procedure: it reaches the treadmill without waiting for the response.

Measured as the wall time from the ``client.stop()`` call to the Stop write arriving at the
virtual treadmill (the sim stamps every control-point write with ``time.perf_counter()``).
"""

from __future__ import annotations

import asyncio
import statistics
import time

from retro_treadmill.ftms.model import Outcome
from tests.ftms.conftest import TIME_SCALE, MakeClient, MakeSim
from tests.ftms.helpers import until

ROUNDS = 60
HOLD_S = 1.0
"""How long (sim seconds) the treadmill holds each Set Target Speed response back."""


async def test_stop_reaches_the_treadmill_while_set_speed_awaits_its_response(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("spec")
    client = await make_client()
    assert (await client.start()).outcome is Outcome.SUCCESS
    latencies: list[float] = []
    rewrite_gaps: list[float] = []
    void = 0
    i = 0
    while len(latencies) < ROUNDS:
        i += 1
        await sim.inject(f"delay-responses:by={HOLD_S}s,count=1")
        before = len(sim.writes)
        pending = asyncio.create_task(client.set_target_speed(1.5 + 0.01 * (i % 10)))
        await until(sim, lambda before=before: len(sim.writes) > before, 5)  # type: ignore[misc]
        assert sim.writes[before].opcode == 0x02

        called = time.perf_counter()
        stop = await client.stop()

        arrived = next(w for w in sim.writes[before:] if w.opcode == 0x08)
        held = [s for s in sim.sent if s.target == "2AD9" and s.value[:2] == b"\x80\x02"][-1]
        await pending
        if held.perf_counter <= called:
            # This process stalled for the whole hold before it could call stop(): no Set
            # Target Speed was pending any more, so the round proves nothing. Not counted.
            void += 1
            assert void <= ROUNDS // 5, "too many rounds lost to scheduling stalls"
            continue
        latencies.append(arrived.perf_counter - called)
        # It did not wait: the held Set Target Speed response went out after the Stop arrived.
        assert held.perf_counter > arrived.perf_counter, (called, arrived, held)
        assert pending.result().outcome is Outcome.PREEMPTED
        # The strict treadmill refused the early Stop (0xFE, procedure in progress); the client
        # rewrote it the moment the held response arrived, and it was accepted.
        assert stop.outcome.accepted
        assert sim.writes[-1].opcode == 0x08
        assert sim.writes[-1].result in (0x01, 0x04)
        rewrite_gaps.append(sim.writes[-1].perf_counter - held.perf_counter)

    latencies.sort()
    median = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(
        f"\nstop pre-emption over {ROUNDS} rounds: median {median * 1e3:.2f} ms, "
        f"p99 {p99 * 1e3:.2f} ms, max {latencies[-1] * 1e3:.2f} ms "
        f"(response held {HOLD_S / TIME_SCALE * 1e3:.0f} ms wall; {void} void rounds)"
    )
    rewrite_gaps.sort()
    gap_median = statistics.median(rewrite_gaps)
    gap_p99 = rewrite_gaps[min(len(rewrite_gaps) - 1, int(0.99 * len(rewrite_gaps)))]
    print(
        f"accepted Stop after the held response went out: median {gap_median * 1e3:.2f} ms, "
        f"p99 {gap_p99 * 1e3:.2f} ms"
    )
    # Typically median < 1 ms and p99 10-40 ms on 2 cores shared with other busy processes
    # (the outliers are scheduling, not waiting); the bounds leave room for that load.
    assert median < 0.010
    assert p99 < 0.100
    assert gap_median < 0.010
    assert gap_p99 < 0.100


async def test_stop_soon_cancels_what_is_queued_before_it_returns(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("spec")
    client = await make_client()
    assert (await client.start()).outcome is Outcome.SUCCESS
    await sim.inject("delay-responses:by=1s,count=1")
    first = asyncio.create_task(client.set_target_speed(2.0))
    await until(sim, lambda: sim.writes[-1].opcode == 0x02, 5)
    second = asyncio.create_task(client.set_target_speed(2.2))
    await asyncio.sleep(0)  # the second one is queued behind the first
    stop = client.stop_soon()
    assert (await first).outcome is Outcome.PREEMPTED
    assert (await second).outcome is Outcome.CANCELLED
    assert (await stop).outcome.accepted
    speeds = [w.data for w in sim.writes if w.opcode == 0x02]
    assert speeds == [bytes.fromhex("02 c8 00")]  # 2.2 km/h was never written


async def test_a_speed_write_overtaken_before_its_turn_is_never_sent(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    """The Set Target Speed is decided and its write task scheduled, then Stop comes before that
    task runs: the speed change must not reach the treadmill after the Stop."""
    sim = await make_sim("spec")
    client = await make_client()
    assert (await client.start()).outcome is Outcome.SUCCESS
    before = len(sim.writes)
    speed = asyncio.create_task(client.set_target_speed(2.0))
    await asyncio.sleep(0)  # the speed task submits and schedules its write task
    assert client.machine.busy
    stop = await client.stop()
    assert stop.outcome is Outcome.SUCCESS
    assert (await speed).outcome is Outcome.PREEMPTED
    settled = sim.elapsed + 2.0
    await sim.wait_for(lambda s: s.elapsed >= settled, 5)
    assert [w.opcode for w in sim.writes[before:]] == [0x08]
    assert [r.data["command"] for r in client.audit.of_kind("write-skipped")] == [
        "set-target-speed 2.00 km/h"
    ]


async def test_stop_over_a_write_without_response_control_point_is_not_held_to_the_timeout(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    """The lenient (CITYSPORTS-like) control point takes Write Commands: a treadmill busy with a
    procedure drops the early Stop and cannot say so (no 0xFE for a Write Command). The client
    writes the Stop again as soon as the held response shows the treadmill is free, instead of
    waiting out the control-point timeout (1 s wall here)."""
    sim = await make_sim("lenient")
    client = await make_client()
    assert (await client.start()).outcome is Outcome.SUCCESS
    gaps: list[float] = []
    for i in range(5):
        await sim.inject(f"delay-responses:by={HOLD_S}s,count=1")
        before = len(sim.writes)
        pending = asyncio.create_task(client.set_target_speed(1.5 + 0.01 * i))
        await until(sim, lambda before=before: len(sim.writes) > before, 5)  # type: ignore[misc]
        called = time.perf_counter()
        stop = await client.stop()
        assert stop.outcome.accepted
        await pending
        held = [s for s in sim.sent if s.target == "2AD9" and s.value[:2] == b"\x80\x02"][-1]
        if held.perf_counter <= called:
            continue  # a scheduling stall outlasted the hold: nothing was pending (see above)
        assert pending.result().outcome is Outcome.PREEMPTED
        accepted = [w for w in sim.writes[before:] if w.opcode == 0x08 and w.result is not None]
        gaps.append(accepted[0].perf_counter - held.perf_counter)
    assert len(gaps) >= 3
    print(f"\nlenient: accepted Stop after the held response, max {max(gaps) * 1e3:.1f} ms")
    assert max(gaps) < 0.3  # the control-point timeout is 1 s wall
