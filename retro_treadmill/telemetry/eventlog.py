"""The session event log: one JSON object per line (``run --event-log PATH``).

Every line has ``t`` (session clock seconds, time-scaled with ``--time-scale``), ``wall`` (Unix
time), ``source`` and ``kind``:

- ``source = "session"``: what the session service did and decided. Kinds:

  ==============  =================================================================================
  ``session``     start of the log: ``profile``, ``device``, ``units``, ``limits``, ``time_scale``
  ``state``       the session state changed: ``state``, ``previous``, ``segment``, ``message``
  ``operator``    an operator intent: ``action`` (start, stop, pause, resume, speed, incline,
                  acknowledge), ``by`` (keyboard, mqtt, signal, ...), details
  ``decision``    a safety-governor decision: ``verdict``, ``request``, ``by``, ``command``,
                  ``reason``
  ``command``     a command sent to the treadmill (after the governor): ``command``, ``data``
  ``alarm``       an alarm: ``alarm`` (kind), ``message``; ``warning`` (true) when it did not
                  stop the belt (the heart-rate-lost warning)
  ``rejection``   an operator request refused: ``request``, ``reason``
  ``ftms``        an FTMS client event that is not in the audit trail (reconnecting, ...)
  ``mqtt``        MQTT publisher status changes
  ``error``       an exception in a task (fail closed): ``task``, ``error``, ``traceback``
  ``finished``    the belt confirmed at a standstill, the clean-up runs at a lower CPU priority
                  (``niceness``) so it never delays another session's Stop on the same host
  ``outcome``     last line: ``outcome``, ``exit_code``, ``belt`` (last reported speed)
  ``simulator``   with ``--simulate``: the virtual treadmill's final ``state``,
                  ``belt_speed_kmh`` and its last control-point ``writes`` (hex)
  ==============  =================================================================================

- ``source = "ftms"``: the FTMS client's audit trail (every control-point write with its bytes,
  response with result code and round trip, status and telemetry record; see
  :mod:`retro_treadmill.ftms.audit` for the kinds).

Speeds are km/h and inclines percent (FTMS units). Records are taken synchronously and written in
batches every 50 ms (and at close), so JSON encoding never sits on the stop path; a batch is
encoded in slices of at most ``SLICE_S`` of CPU, one per event-loop turn, so a Stop that comes in
meanwhile waits for one slice, not for the batch. The encoded lines go to the file from a thread
of their own (:class:`~retro_treadmill.telemetry.writer.ThreadedWriter`): the loop never waits
for the disk. A crash of the interpreter itself can lose the last 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from retro_treadmill.ftms.audit import AuditRecord, to_jsonable
from retro_treadmill.telemetry.writer import ThreadedWriter

SLICE_S = 0.0002
"""CPU time one turn of the batched writer may take (a batch of a busy second took 2-10 ms in
one piece, and every Stop that landed behind it waited that long)."""
YIELD_POLL_S = 0.001
"""While :attr:`EventLog.yield_to` says so, the writer looks again this much later..."""
YIELD_MAX_S = 0.05
"""...but never defers a batch longer than this (a Stop stuck on a dead link must not stop the
log)."""
FLUSH_WAIT_S = 2.0
"""How long :meth:`EventLog.flush` (and close) waits for the file to take what was written."""


class EventLog:
    """A JSON-lines event log (see the module docstring). ``stream=None`` keeps records in memory
    only (:attr:`records`, the last ``keep``), which the tests and the TUI can read.

    Records are taken synchronously (cheap: a dict or the audit record itself) and turned into
    JSON in batches ``flush_s`` later (or at :meth:`close`), so that serialising never sits on the
    stop path between ``stop()`` and the Stop write.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        keep: int = 2000,
        flush_s: float = 0.05,
    ) -> None:
        self._stream = stream
        self._writer = ThreadedWriter(stream, name="event-log") if stream is not None else None
        self._clock = clock
        self._wall = wall_clock
        self._keep = keep
        self._flush_s = flush_s
        self._records: list[dict[str, Any]] = []
        self._raw: list[dict[str, Any] | AuditRecord] = []
        self._unwritten: list[dict[str, Any]] = []
        self._scheduled: asyncio.Handle | None = None
        self._flushing = threading.Lock()
        self._deferred_since: float | None = None
        self.yield_to: Callable[[], bool] | None = None
        """While this returns True (the session service: a Stop is in flight), the batched
        writer waits, up to ``YIELD_MAX_S``: a Stop's write takes several event-loop turns, and
        a slice of encoding in each of them added milliseconds to it."""
        self._failed: str | None = None

    @property
    def failed(self) -> str | None:
        """Why writing stopped (disk full, ...); the session goes on without the file."""
        if self._failed is None and self._writer is not None:
            return self._writer.failed
        return self._failed

    @classmethod
    def open(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """A log appending to ``path`` (created with its folder when missing)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return cls(target.open("a", encoding="utf-8"), **kwargs)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The last ``keep`` records as JSON-ready dicts, oldest first."""
        self._convert()
        return self._records

    def write(self, kind: str, /, **data: Any) -> dict[str, Any]:
        """Append one ``source = "session"`` record now (session clock) and return it."""
        return self.write_at(self._clock(), kind, **data)

    def write_at(self, t: float, kind: str, /, **data: Any) -> dict[str, Any]:
        """Append one ``source = "session"`` record of something that happened at session time
        ``t`` (an event from the session bus, written a little later) and return it."""
        record: dict[str, Any] = {
            "t": round(t, 6),
            "wall": round(self._wall(), 6),
            **data,
            "source": "session",
            "kind": kind,
        }
        self._take(record)
        return record

    def audit(self, record: AuditRecord) -> None:
        """Audit-trail sink (``client.audit.add_sink(log.audit)``)."""
        self._take(record)

    def _take(self, item: dict[str, Any] | AuditRecord) -> None:
        self._raw.append(item)
        if self._scheduled is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = loop.call_later(self._flush_s, self._flush_slice)

    def _flush_slice(self) -> None:
        """The batch timer: encode and write for at most ``SLICE_S``, then come back at the
        loop's next turn while records are left."""
        self._scheduled = None
        loop = asyncio.get_running_loop()
        busy = self.yield_to
        if busy is not None and busy():
            now = time.perf_counter()
            since = self._deferred_since = self._deferred_since or now
            if now - since < YIELD_MAX_S:
                self._scheduled = loop.call_later(YIELD_POLL_S, self._flush_slice)
                return
        self._deferred_since = None
        with self._flushing:
            self._convert(budget_s=SLICE_S)
            self._write_unwritten()
        if self._raw:
            self._scheduled = loop.call_soon(self._flush_slice)

    def _convert(self, budget_s: float | None = None) -> None:
        """Encode the records taken so far, or (``budget_s``) the oldest ones, eight at a time,
        until that much time is spent."""
        if budget_s is None:
            raw, self._raw = self._raw, []
            self._encode(raw)
            return
        raw = self._raw
        deadline = time.perf_counter() + budget_s
        done = 0
        while done < len(raw):
            self._encode(raw[done : done + 8])
            done += 8
            if time.perf_counter() > deadline:
                break
        del raw[:done]

    def _encode(self, raw: list[dict[str, Any] | AuditRecord]) -> None:
        for item in raw:
            try:
                if isinstance(item, AuditRecord):
                    record = {"source": "ftms", **item.to_dict()}
                else:
                    record = to_jsonable(item)
            except Exception as exc:  # a value we cannot convert must not cost the other lines
                record = {"source": "session", "kind": "log-error", "error": repr(exc)}
                record["record"] = repr(item)[:500]
            self._records.append(record)
            if self._stream is not None:
                self._unwritten.append(record)
        if len(self._records) > self._keep:
            del self._records[: len(self._records) - self._keep]

    def flush(self, wait_s: float = FLUSH_WAIT_S) -> None:
        """Write what has been taken so far, and wait up to ``wait_s`` for the file to take it
        (``0``: hand it to the writer thread only). Called by :meth:`close`, at the start of a
        run (so that a file that cannot be written is an error before anything connects), and
        by the last resort that ends a process whose event loop is stuck: hence the lock."""
        with self._flushing:
            if self._scheduled is not None:
                self._scheduled.cancel()
                self._scheduled = None
            self._convert()
            self._write_unwritten()
        if wait_s > 0 and self._writer is not None:
            self._writer.drain(wait_s)

    def _write_unwritten(self) -> None:
        lines, self._unwritten = self._unwritten, []
        if self._writer is None or self.failed is not None or not lines:
            return
        taken = self._writer.write(
            "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in lines)
        )
        if not taken and self._writer.failed is None:
            # Thousands of batches waiting: the disk has taken nothing for minutes. A log with a
            # hole is said as a failure, not left for someone to trust.
            self._failed = "the file stopped taking writes (a stalled disk); lines were lost"

    def close(self) -> None:
        """Flush and close the file (records stay readable in memory)."""
        self.flush()
        if self._writer is not None and not self._writer.close(FLUSH_WAIT_S):
            # Its thread may still be inside a write: closing the file under it would wait for
            # that write. The process's exit closes the file.
            self._failed = self._failed or f"the file took no more writes for {FLUSH_WAIT_S:g} s"
            self._stream = None
        if self._stream is not None:
            try:
                self._stream.close()
            except OSError as exc:
                self._failed = self._failed or str(exc)
            self._stream = None


def read_event_log(path: str | Path) -> list[dict[str, Any]]:
    """Every record of an event log file (for tests and tools). A log can be read while its
    session still writes it: a last line without its newline is a record not yet complete (a
    batch may reach the file in more than one write) and is left out. A broken line anywhere
    else is damage, and raises :class:`json.JSONDecodeError`."""
    text = Path(path).read_text(encoding="utf-8")
    complete, _, _unfinished = text.rpartition("\n")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


__all__ = ["EventLog", "read_event_log"]
