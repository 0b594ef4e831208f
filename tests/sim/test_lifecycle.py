"""Starting and closing the virtual treadmill: bounded in wall time, nothing left running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.sim import VirtualTreadmill
from tests.sim.conftest import Connect

MakeSim = Callable[..., Awaitable[VirtualTreadmill]]


def _sim_tasks() -> set[asyncio.Task[object]]:
    return {
        t
        for t in asyncio.all_tasks()
        if not t.done() and t is not asyncio.current_task() and "VirtualTreadmill" in repr(t)
    }


async def test_closing_a_treadmill_taken_off_the_air_is_prompt(
    make_sim: MakeSim, radio: VirtualRadio
) -> None:
    """Power loss (radio.remove_device) and then close(): its controller no longer answers
    HCI commands, so close() must not wait for bumble's 10 s command timeout."""
    sim = await make_sim("spec")
    radio.remove_device(sim.device)
    started = time.perf_counter()
    await sim.close()
    assert time.perf_counter() - started < 0.9  # no HCI command is even tried (1 s bounds)
    assert not _sim_tasks()


async def test_close_with_a_client_connected_ends_the_link_and_every_task(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await wire.command(b"\x07")
    started = time.perf_counter()
    await sim.close()
    assert time.perf_counter() - started < 2.0
    async with asyncio.timeout(2):
        await wire.disconnected.wait()
    assert not _sim_tasks()


async def test_a_link_drop_after_power_loss_is_a_no_op(
    make_sim: MakeSim, radio: VirtualRadio
) -> None:
    """drop-link scheduled for a treadmill that lost power (taken off the radio): there is no
    link to drop; the loop carries on and close() is clean."""
    sim = await make_sim("spec")
    sim.schedule(f"drop-link@{sim.elapsed + 1.0:.2f}s")
    radio.remove_device(sim.device)
    await sim.wait_for(lambda s: not s.scheduled_faults and s.elapsed > 2.0, 10)
    assert not _loop_done(sim)
    await sim.close()
    assert not _sim_tasks()


async def test_a_failing_loop_is_reported_and_close_still_cleans_up(
    make_sim: MakeSim, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    sim = await make_sim("spec", log=lines.append)
    wire = await connect(sim)

    def broken(now: float) -> list[object]:
        raise RuntimeError("model exploded")

    monkeypatch.setattr(sim.core, "tick", broken)
    await sim.wait_for(lambda s: _loop_done(s), 5)
    assert any("loop failed: RuntimeError: model exploded" in line for line in lines)
    await sim.close()
    async with asyncio.timeout(2):
        await wire.disconnected.wait()
    assert not _sim_tasks()


def _loop_done(sim: VirtualTreadmill) -> bool:
    runner = sim._runner  # the tick/telemetry task: private, but what this test is about
    return runner is not None and runner.done()


async def test_close_right_after_a_link_drop_leaves_no_error_behind(
    make_sim: MakeSim, connect: Connect
) -> None:
    """The link drops (the app exits), the treadmill starts advertising again, and close()
    comes while that HCI command waits for its answer: the answer must not land on a cancelled
    command afterwards (bumble then logs InvalidStateError with a traceback after the run's last
    line, as every `run` with the MQTT broker down did)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        for turns in (1, 3, 6, 10):
            sim = await make_sim("spec")
            wire = await connect(sim)
            await wire.client.disconnect()
            # the treadmill sees the drop and starts advertising again
            await sim.wait_for(lambda s: not s.connections, 60.0)
            for _ in range(turns):  # close() lands somewhere in the advertising's HCI commands
                await asyncio.sleep(0)
            await sim.close()
            for _ in range(50):
                await asyncio.sleep(0.002)
    finally:
        loop.set_exception_handler(previous)
    assert not errors, [str(e.get("exception") or e.get("message")) for e in errors]
