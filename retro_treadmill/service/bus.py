"""The session bus: one stream of :mod:`~retro_treadmill.service.events` to every observer.

::

    bus = SessionBus(clock=clock.now, busy=service.stop_in_flight)
    bus.add_sink("event-log", KEEP(10_000), lambda e: log_sink.handle(e))   # a task per sink
    async for event in bus.subscribe("ui", LATEST): ...                      # or iterate
    bus.publish(AlarmRaised(t, "overspeed", "Belt too fast"))                # sync, only appends
    await bus.aclose()                                                       # drain, bounded

:meth:`SessionBus.publish` is synchronous: it never awaits, raises or encodes; it appends the
event to each subscription's queue and wakes its reader. **The queue lives in the
subscription**, with its policy:

- :data:`LATEST` keeps only the newest event (the UI reads the newest snapshot);
- :func:`DROP_OLDEST` keeps the newest ``n`` and drops older ones quietly (MQTT telemetry);
- :func:`KEEP` keeps ``n``; when full it drops the oldest and counts them, and the next read
  publishes one :class:`~retro_treadmill.service.events.EventsDropped` with the count (the
  event log, MQTT events, the recorder); the other subscriptions get it too.

Each sink runs as one task the bus owns. An exception in a sink closes that subscription and
publishes :class:`~retro_treadmill.service.events.SinkFailed`; it never reaches the session's
TaskGroup and never stops the belt. While ``busy()`` says a Stop is on its way to the treadmill,
readers wait (up to :data:`YIELD_MAX_S` per busy spell, so a Stop stuck on a dead link cannot
hold the observers for ever), and a reader with a backlog hands the loop back every
:data:`SLICE_S` of work: a Stop that arrives meanwhile waits for one slice at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self

from retro_treadmill.service.events import EventsDropped, SessionEvent, SinkFailed

logger = logging.getLogger(__name__)

YIELD_POLL_S = 0.001
"""While a Stop is in flight, readers look again this much later..."""
YIELD_MAX_S = 0.05
"""...but wait no longer than this per busy spell."""
SLICE_S = 0.0005
"""Wall time a reader may take through its backlog before handing the loop back for a turn."""
CLOSE_TIMEOUT_S = 3.0
"""How long :meth:`SessionBus.aclose` lets the sinks drain their queues."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A subscription's queue policy (see the module docstring)."""

    kind: Literal["latest", "drop_oldest", "keep"]
    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a subscription queue holds at least one event, not {self.size}")


LATEST = Policy("latest", 1)
"""Only the newest event (conflated)."""


def DROP_OLDEST(n: int) -> Policy:
    """The newest ``n`` events; older ones dropped quietly."""
    return Policy("drop_oldest", n)


def KEEP(n: int) -> Policy:
    """Up to ``n`` events in order; beyond, the oldest dropped, counted and announced."""
    return Policy("keep", n)


EventFilter = tuple[type, ...]


class Subscription:
    """One observer's queue on the bus; async-iterable. :meth:`close` unsubscribes."""

    def __init__(
        self, bus: SessionBus, name: str, policy: Policy, kinds: EventFilter | None
    ) -> None:
        self.name = name
        self.policy = policy
        self.kinds = kinds
        self.dropped = 0
        """Events dropped from this queue so far."""
        self._bus = bus
        self._items: deque[SessionEvent] = deque()
        self._unreported = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._ending = False
        self._slice_start: float | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, event: SessionEvent) -> None:
        """Queue ``event`` by the policy (the bus calls this; never raises)."""
        if self._closed or (self.kinds is not None and not isinstance(event, self.kinds)):
            return
        items = self._items
        if self.policy.kind == "latest":
            items.clear()
        elif len(items) >= self.policy.size:
            items.popleft()
            self.dropped += 1
            if self.policy.kind == "keep":
                self._unreported += 1
        items.append(event)
        self._wake.set()

    def close(self) -> None:
        """Unsubscribe: nothing more is queued, the queue is dropped and iteration ends."""
        self._closed = True
        self._items.clear()
        self._wake.set()
        self._bus._remove(self)

    def finish(self) -> None:
        """End iteration once the queue is empty (events published meanwhile still count)."""
        self._ending = True
        self._wake.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionEvent:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._unreported:
                # This reader gets the count first, ahead of what is left; everyone else hears
                # of it too (the event log writes it, MQTT publishes it).
                count, self._unreported = self._unreported, 0
                dropped = EventsDropped(self._bus.now(), self.name, count)
                self._bus.publish(dropped, exclude=self)
                return dropped
            if self._items:
                await self._pace()
                if self._items:  # close() may have emptied it while we waited
                    return self._items.popleft()
                continue
            if self._ending:
                raise StopAsyncIteration
            self._slice_start = None
            self._wake.clear()
            await self._wake.wait()

    async def _pace(self) -> None:
        now = time.perf_counter()
        if self._slice_start is None:
            self._slice_start = now
        elif now - self._slice_start > SLICE_S:
            self._slice_start = None
            await asyncio.sleep(0)
        await self._bus.yield_to_stop()


Handler = Callable[[SessionEvent], object]


class SessionBus:
    """The session's event bus (see the module docstring). ``clock`` stamps the bus's own events
    (session clock); ``busy`` says whether a Stop is in flight."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, busy: Callable[[], bool] | None = None
    ) -> None:
        self.now = clock
        self.busy = busy
        self.failures: list[SinkFailed] = []
        """Every sink that failed, in order."""
        self._subs: list[Subscription] = []
        self._sinks: dict[asyncio.Task[None], Subscription] = {}
        self._busy_since: float | None = None
        self._closed = False

    def publish(self, event: SessionEvent, *, exclude: Subscription | None = None) -> None:
        """Queue ``event`` for every subscription (but ``exclude``): synchronous, a few appends,
        never raises."""
        for sub in tuple(self._subs):
            if sub is not exclude:
                sub.offer(event)

    def subscribe(
        self, name: str, policy: Policy = LATEST, *, kinds: EventFilter | None = None
    ) -> Subscription:
        """A new subscription receiving every event published from now on (only instances of
        ``kinds`` when given)."""
        sub = Subscription(self, name, policy, kinds)
        if self._closed:
            sub.finish()
        else:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)

    def add_sink(
        self,
        name: str,
        policy: Policy,
        handle: Handler,
        *,
        kinds: EventFilter | None = None,
        on_end: Callable[[], object] | None = None,
    ) -> Subscription:
        """Run ``handle(event)`` for each event in a task of its own (needs a running loop).
        An exception in ``handle`` (or in ``on_end``, called when the stream ends) closes the
        subscription and publishes :class:`SinkFailed`."""
        sub = self.subscribe(name, policy, kinds=kinds)
        task = asyncio.get_running_loop().create_task(
            self._run_sink(sub, handle, on_end), name=f"sink-{name}"
        )
        self._sinks[task] = sub
        task.add_done_callback(self._sink_done)
        return sub

    async def _run_sink(
        self, sub: Subscription, handle: Handler, on_end: Callable[[], object] | None
    ) -> None:
        try:
            async for event in sub:
                handle(event)
            if on_end is not None:
                on_end()
        except Exception as exc:
            self.sink_failed(sub, exc)

    def sink_failed(self, sub: Subscription, exc: BaseException) -> None:
        """``sub``'s observer failed: unsubscribe it and tell everyone else."""
        sub.close()
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("%s stopped: %s; the session goes on without it", sub.name, error)
        event = SinkFailed(self.now(), sub.name, error)
        self.failures.append(event)
        self.publish(event)

    def _sink_done(self, task: asyncio.Task[None]) -> None:
        self._sinks.pop(task, None)

    async def yield_to_stop(self) -> None:
        """Wait while a Stop is in flight, at most :data:`YIELD_MAX_S` per busy spell."""
        busy = self.busy
        if busy is None or not busy():
            self._busy_since = None
            return
        now = time.perf_counter()
        if self._busy_since is None:
            self._busy_since = now
        # ``busy`` is a predicate over the service's stop tasks, not an event to wait on.
        while busy() and time.perf_counter() - self._busy_since < YIELD_MAX_S:  # noqa: ASYNC110
            await asyncio.sleep(YIELD_POLL_S)
        if not busy():
            self._busy_since = None

    async def aclose(self, drain_s: float = CLOSE_TIMEOUT_S) -> None:
        """Let every subscription drain what it holds (sinks up to ``drain_s``), then end them.
        Events published meanwhile (a sink's failure) still reach the others."""
        self._closed = True
        for sub in tuple(self._subs):
            sub.finish()
        pending = set(self._sinks)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=drain_s)
            for task in late:
                logger.warning("%s did not drain in %.1f s", self._sinks[task].name, drain_s)
                task.cancel()
            if late:
                await asyncio.wait(late)


__all__ = [
    "DROP_OLDEST",
    "KEEP",
    "LATEST",
    "SLICE_S",
    "YIELD_MAX_S",
    "Policy",
    "SessionBus",
    "Subscription",
]
