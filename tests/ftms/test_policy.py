"""Reconnect backoff and the event stream, without a radio."""

from __future__ import annotations

import random

import pytest

from retro_treadmill.ftms.client import EventStream, ReconnectPolicy
from retro_treadmill.ftms.events import LinkLost, ReconnectFailed


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy = ReconnectPolicy(max_attempts=6, initial_delay_s=0.5, max_delay_s=4.0, jitter=0.25)
    rng = random.Random(1)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (6, 4.0)]:
        delays = {policy.delay(attempt, rng) for _ in range(200)}
        assert min(delays) >= base * 0.75
        assert max(delays) <= base * 1.25
        assert len(delays) > 100  # jittered, so clients do not reconnect in lockstep


def test_no_jitter_is_exact() -> None:
    policy = ReconnectPolicy(initial_delay_s=0.5, max_delay_s=8.0, jitter=0.0)
    assert [policy.delay(a, random.Random()) for a in (1, 2, 3, 4, 5, 6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
    ]


async def test_event_stream_delivers_in_order_and_ends_on_close() -> None:
    removed: list[EventStream] = []
    stream = EventStream(removed.append)
    first = LinkLost(1.0, "disconnected", True)
    second = ReconnectFailed(2.0, 3, "gone")
    stream._put(first)
    stream._put(second)
    assert await stream.next_of(ReconnectFailed, timeout=1) == second  # skips the LinkLost
    stream._put(first)
    stream.close()
    assert [e async for e in stream] == [first]
    assert removed == [stream]
    stream._put(second)  # after close: dropped
    assert stream.get_nowait() is None


async def test_next_of_times_out() -> None:
    stream = EventStream(lambda _s: None)
    with pytest.raises(TimeoutError):
        await stream.next_of(LinkLost, timeout=0.01)
