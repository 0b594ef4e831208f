"""The recorder: a sink that keeps a session in the store, writing on its own thread.

The methods the service calls (:meth:`Recorder.begin`, :meth:`~Recorder.sample`,
:meth:`~Recorder.event`, :meth:`~Recorder.finish`) never do IO and never wait: they append to a
bounded in-memory queue under a lock that the writer holds only to swap the queue out. The writer
thread opens the store (creating, migrating and recovering it), then writes whatever is queued in
one transaction per :data:`CHECKPOINT_S`, so a ``kill -9`` loses at most that much plus the time
to the next 1 Hz sample. A full queue drops samples (never the begin, finish or events, up to a hard
cap) and records how many as a ``dropped`` event.

A failure (disk full, read-only directory, ...) is reported once through ``on_failure``, called on
the writer thread, as a :class:`~retro_treadmill.records.store.StoreError` naming the file (its
``__cause__`` is the sqlite3 or OS error): the caller marshals it to its loop
(``loop.call_soon_threadsafe``) to show a warning and publish an event. From then on the recorder
discards everything: the session carries on unrecorded.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retro_treadmill.records.model import EventKind, RecordedEvent, Sample, SessionInfo, Totals
from retro_treadmill.records.store import Store, StoreError

CHECKPOINT_S = 0.5
"""The writer commits what is queued at most this long after it was queued."""
HEARTBEAT_S = 5.0
"""An idle writer still refreshes the session's heartbeat this often (see store.STALE_S)."""
SAMPLE_INTERVAL_S = 0.9
"""Samples closer than this (session clock) to the last kept one are not kept (1 Hz record; the
margin keeps a jittery 1 Hz feed whole)."""
MAX_QUEUE = 600
"""Samples queued beyond this are dropped (ten minutes of 1 Hz samples: the disk is stuck)."""

FailureCallback = Callable[[BaseException], None]


@dataclass(frozen=True, slots=True)
class _Begin:
    info: SessionInfo


@dataclass(frozen=True, slots=True)
class _Finish:
    session_id: str
    outcome: str
    exit_code: int
    totals: Totals
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class _Sample:
    session_id: str
    sample: Sample


@dataclass(frozen=True, slots=True)
class _Event:
    session_id: str
    event: RecordedEvent


_Item = _Begin | _Finish | _Sample | _Event


class Recorder:
    """Records sessions into the store at ``path``. One recorder may record several sessions in
    turn (``begin`` ... ``finish``, ``begin`` ... ``finish``); ``close`` once at the end."""

    def __init__(
        self,
        path: Path,
        *,
        on_failure: FailureCallback | None = None,
        checkpoint_s: float = CHECKPOINT_S,
        heartbeat_s: float = HEARTBEAT_S,
        sample_interval_s: float = SAMPLE_INTERVAL_S,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.path = path
        self._on_failure = on_failure
        self._checkpoint_s = checkpoint_s
        self._heartbeat_s = heartbeat_s
        self._sample_interval_s = sample_interval_s
        self._max_queue = max_queue
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued_samples = 0
        self._dropped = 0
        self._closing = False
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._session_id: str | None = None
        self._last_kept_t: float | None = None
        self._held: Sample | None = None
        """The newest sample not kept by the 1 Hz rule, kept at ``finish`` (the final state)."""

    # -- called from the event loop: no IO, no waiting --------------------------------------------

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the recorder, if any."""
        return self._failed

    @property
    def dropped(self) -> int:
        """Items dropped because the queue was full."""
        return self._dropped

    @property
    def session_id(self) -> str | None:
        """The session being recorded (``None`` before ``begin`` and after ``finish``)."""
        return self._session_id

    def begin(self, info: SessionInfo) -> None:
        """Start recording a session (starts the writer thread the first time)."""
        if self._session_id is not None:
            raise RuntimeError(f"session {self._session_id} is still being recorded")
        self._session_id = info.session_id
        self._last_kept_t = None
        self._held = None
        self._put(_Begin(info))
        if self._thread is None and not self._closing:
            self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
            self._thread.start()

    def sample(self, sample: Sample) -> None:
        """Keep ``sample`` if it is at least ~1 s after the last kept one (session clock)."""
        if self._session_id is None:
            return
        if (
            self._last_kept_t is not None
            and sample.t - self._last_kept_t < self._sample_interval_s
            and sample.t >= self._last_kept_t
        ):
            self._held = sample
            return
        self._last_kept_t = sample.t
        self._held = None
        self._put(_Sample(self._session_id, sample))

    def event(self, event: RecordedEvent) -> None:
        """Keep ``event`` (alarms, operator actions, refusals, ...)."""
        if self._session_id is not None:
            self._put(_Event(self._session_id, event))

    def finish(
        self, outcome: str, exit_code: int, totals: Totals, *, ended_at: float | None = None
    ) -> None:
        """End the session: outcome, exit code and totals (``ended_at`` defaults to the last
        time kept)."""
        if self._session_id is None:
            return
        if self._held is not None:
            self._put(_Sample(self._session_id, self._held))
            self._held = None
        self._put(_Finish(self._session_id, outcome, exit_code, totals, ended_at))
        self._session_id = None

    def _put(self, item: _Item) -> None:
        if self._failed is not None or self._closing:
            return
        with self._cond:
            if isinstance(item, _Sample | _Event):
                full = (
                    self._queued_samples >= self._max_queue
                    if isinstance(item, _Sample)
                    else len(self._queue) >= 2 * self._max_queue
                )
                if full:
                    self._dropped += 1
                    return
                if isinstance(item, _Sample):
                    self._queued_samples += 1
            self._queue.append(item)
            self._cond.notify()

    # -- shutting down -----------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> bool:
        """Write what is queued and stop the writer; blocks up to ``timeout`` seconds (call it
        from a thread, e.g. ``asyncio.to_thread``, or once the loop has ended). Returns whether
        everything queued was written."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive() and self._failed is None

    # -- the writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = Store.open(self.path)
        except BaseException as error:
            self._fail(error)
            return
        try:
            self._write_loop(store)
        except sqlite3.Error as error:
            failure = StoreError(
                f"{self.path}: recording stopped ({error}); the session carries on unrecorded"
            )
            failure.__cause__ = error
            self._fail(failure)
        except BaseException as error:
            self._fail(error)
        finally:
            store.close()

    def _write_loop(self, store: Store) -> None:
        last_commit = time.monotonic()
        current: str | None = None
        last_t: float | None = None
        reported_drops = 0
        while True:
            with self._cond:
                if not self._queue and not self._closing:
                    self._cond.wait(self._heartbeat_s)
            if not self._closing:
                # Let a checkpoint's worth gather: one transaction, one fsync.
                pause = last_commit + self._checkpoint_s - time.monotonic()
                if pause > 0 and self._queue:
                    with self._cond:
                        self._cond.wait_for(lambda: self._closing, pause)
            with self._cond:
                batch = list(self._queue)
                self._queue.clear()
                self._queued_samples = 0
                closing = self._closing
                drops = self._dropped
            if batch or current is not None:
                with store.transaction():
                    for item in batch:
                        if isinstance(item, _Begin):
                            store.begin_session(
                                item.info, writer_pid=os.getpid(), heartbeat_at=time.time()
                            )
                            current = item.info.session_id
                            last_t = item.info.started_at
                        elif isinstance(item, _Sample):
                            store.add_samples(item.session_id, [item.sample])
                            last_t = item.sample.t
                        elif isinstance(item, _Event):
                            store.add_events(item.session_id, [item.event])
                            last_t = item.event.t
                        else:
                            if drops > reported_drops and last_t is not None:
                                store.add_events(item.session_id, [_dropped(last_t, drops)])
                                reported_drops = drops
                            store.finish_session(
                                item.session_id,
                                ended_at=item.ended_at,
                                outcome=item.outcome,
                                exit_code=item.exit_code,
                                totals=item.totals,
                            )
                            current = None
                    if current is not None:
                        if drops > reported_drops and last_t is not None:
                            store.add_events(current, [_dropped(last_t, drops)])
                            reported_drops = drops
                        store.heartbeat(current, time.time())
                last_commit = time.monotonic()
            if closing and not self._queue:
                return

    def _fail(self, error: BaseException) -> None:
        self._failed = error
        with self._cond:
            self._queue.clear()
            self._queued_samples = 0
        if self._on_failure is not None:
            self._on_failure(error)


def _dropped(t: float, count: int) -> RecordedEvent:
    return RecordedEvent(
        t=t,
        kind=EventKind.DROPPED,
        name="recorder_queue_full",
        detail=f"{count} item(s) dropped: the store could not keep up",
        data={"count": count},
    )


__all__ = [
    "CHECKPOINT_S",
    "HEARTBEAT_S",
    "MAX_QUEUE",
    "SAMPLE_INTERVAL_S",
    "FailureCallback",
    "Recorder",
]
