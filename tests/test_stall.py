"""The latency retry rule (tests/stall.py): only a machine stall the monitor saw excuses a latency
over its bound, and only by the stall's length."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.stall import LatencyBoundExceeded, Stall, StallMonitor, latency_within


def scripted(
    latencies: list[float],
) -> tuple[list[float], Callable[[], Awaitable[tuple[float, float]]]]:
    """A scenario measuring the given latencies in turn, starting at perf_counter 100, 200..."""
    starts: list[float] = []

    async def measure() -> tuple[float, float]:
        starts.append(100.0 * (len(starts) + 1))
        return starts[-1], latencies[len(starts) - 1]

    return starts, measure


async def test_a_latency_within_the_bound_is_measured_once() -> None:
    starts, measure = scripted([0.004])
    assert await latency_within(0.1, measure, "stop", monitor=StallMonitor()) == 0.004
    assert len(starts) == 1


async def test_a_slow_latency_without_a_stall_fails_at_once() -> None:
    starts, measure = scripted([0.3, 0.004])
    with pytest.raises(LatencyBoundExceeded, match=r"stop took 300\.0 ms .* was 0 ms"):
        await latency_within(0.1, measure, "stop", monitor=StallMonitor())
    assert len(starts) == 1


async def test_a_stall_that_explains_the_excess_measures_again() -> None:
    monitor = StallMonitor()
    monitor.stalls.append(Stall(100.05, 0.0, 0.25))  # 0.3 s latency, 0.25 s of it frozen
    starts, measure = scripted([0.3, 0.004])
    with pytest.warns(UserWarning, match="measured again after machine stalls"):
        latency = await latency_within(0.1, measure, "stop", monitor=monitor)
    assert latency == 0.004
    assert len(starts) == 2


@pytest.mark.parametrize(
    "stall",
    [
        Stall(100.05, 0.0, 0.15),  # too short: 0.3 - 0.15 is still over 0.1
        Stall(150.0, 0.0, 0.25),  # at another moment
    ],
)
async def test_a_stall_that_does_not_explain_the_excess_fails(stall: Stall) -> None:
    monitor = StallMonitor()
    monitor.stalls.append(stall)
    _, measure = scripted([0.3, 0.004])
    with pytest.raises(LatencyBoundExceeded):
        await latency_within(0.1, measure, "stop", monitor=monitor)


async def test_stalls_every_time_fail_after_the_attempts() -> None:
    monitor = StallMonitor()
    monitor.stalls += [Stall(100.0 * i + 0.01, 0.0, 0.28) for i in (1, 2, 3)]
    starts, measure = scripted([0.3, 0.3, 0.3])
    with pytest.raises(LatencyBoundExceeded, match="in all 3 attempts"):
        await latency_within(0.1, measure, "stop", monitor=monitor)
    assert len(starts) == 3


def test_the_monitor_sees_a_frozen_process_but_not_a_busy_one() -> None:
    with StallMonitor() as monitor:
        deadline = time.perf_counter() + 0.3
        while time.perf_counter() < deadline:  # busy Python code: the GIL is passed on
            pass
        busy = monitor.longest_within(0.0, time.perf_counter())
        # Frozen: this process stopped for 0.3 s, as the machine does now and then.
        waker = subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -CONT {os.getpid()}"])
        frozen_at = time.perf_counter()
        os.kill(os.getpid(), signal.SIGSTOP)
        waker.wait()
        time.sleep(0.05)
    assert busy < 0.05
    assert monitor.longest_within(frozen_at, time.perf_counter()) > 0.2
