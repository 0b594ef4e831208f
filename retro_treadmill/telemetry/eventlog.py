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
  ``alarm``       an alarm: ``alarm`` (kind), ``message``
  ``rejection``   an operator request refused: ``request``, ``reason``
  ``ftms``        an FTMS client event that is not in the audit trail (reconnecting, ...)
  ``mqtt``        MQTT publisher status changes
  ``error``       an exception in a task (fail closed): ``task``, ``error``, ``traceback``
  ``outcome``     last line: ``outcome``, ``exit_code``, ``belt`` (last reported speed)
  ``simulator``   with ``--simulate``: the virtual treadmill's final ``state``,
                  ``belt_speed_kmh`` and its last control-point ``writes`` (hex)
  ==============  =================================================================================

- ``source = "ftms"``: the FTMS client's audit trail (every control-point write with its bytes,
  response with result code and round trip, status and telemetry record; see
  :mod:`retro_treadmill.ftms.audit` for the kinds).

Speeds are km/h and inclines percent (FTMS units). Writes are synchronous and flushed per line
(a few microseconds; the log never holds the stop path: the Stop is written to the treadmill
before its log line).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from retro_treadmill.ftms.audit import AuditRecord, to_jsonable


class EventLog:
    """A JSON-lines event log (see the module docstring). ``stream=None`` keeps records in memory
    only (:attr:`records`, last ``keep``), which the tests and the TUI can read."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        keep: int = 2000,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._wall = wall_clock
        self._keep = keep
        self.records: list[dict[str, Any]] = []
        self.failed: str | None = None
        """Why writing stopped (disk full, ...); the session goes on without the file."""

    @classmethod
    def open(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """A log appending to ``path`` (created with its folder when missing)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return cls(target.open("a", encoding="utf-8"), **kwargs)

    def write(self, kind: str, /, **data: Any) -> dict[str, Any]:
        """Append one ``source = "session"`` record now (session clock) and return it."""
        record: dict[str, Any] = to_jsonable(data)
        record = {
            "t": round(self._clock(), 6),
            "wall": round(self._wall(), 6),
            **record,
            "source": "session",
            "kind": kind,
        }
        self._emit(record)
        return record

    def audit(self, record: AuditRecord) -> None:
        """Audit-trail sink (``client.audit.add_sink(log.audit)``)."""
        out = {"source": "ftms", **record.to_dict()}
        self._emit(out)

    def _emit(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if len(self.records) > self._keep:
            del self.records[: len(self.records) - self._keep]
        if self._stream is None or self.failed is not None:
            return
        try:
            self._stream.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self.failed = str(exc)

    def close(self) -> None:
        """Flush and close the file (records stay readable in memory)."""
        if self._stream is not None:
            try:
                self._stream.close()
            except OSError as exc:
                self.failed = str(exc)
            self._stream = None


def read_event_log(path: str | Path) -> list[dict[str, Any]]:
    """Every record of an event log file (for tests and tools)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


__all__ = ["EventLog", "read_event_log"]
