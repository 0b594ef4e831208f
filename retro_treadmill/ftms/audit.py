"""The FTMS audit trail: every control-point write, response, status and telemetry record.

Each :class:`AuditRecord` has ``t`` (the client clock, seconds), ``wall`` (Unix time, for
humans; ``None`` when not supplied) and a ``kind``:

=====================  ==========================================================================
``write``              a control-point write: ``command``, ``bytes`` (hex), ``procedure``,
                       ``ticket``, ``auxiliary`` (a Request Control inserted by the client),
                       ``with_response``
``write-error``        the GATT write failed: ``procedure``, ``att_error``, ``error``
``write-skipped``      a write overtaken by a Stop before its turn came, never sent
``pairing``            the control point wanted encryption: pairing ``ok`` (or ``error``)
``response``           a control-point response matched to its write: ``request_opcode``,
                       ``result_code``, ``latency_s`` (round trip), ``bytes``
``response-discarded`` a response for no live procedure (late after a pre-empting Stop or a
                       timeout): ``request_opcode``, ``result_code``, ``reason``, ``bytes``
``command``            how a caller's command ended: ``command``, ``outcome``, ``result_code``,
                       ``latency_s``, ``attempts``, ``detail``
``status``             Fitness Machine Status (2ADA): ``bytes`` and the decoded ``status``
``training``           Training Status (2AD3): ``bytes`` and the decoded ``status``
``telemetry``          one merged Treadmill Data record (2ACD): ``record`` (km/h, %, ...)
``link`` / ``control`` link and control events (``event`` names the type)
``unit-mismatch``      the units self-test failed
``malformed``          bytes that did not parse: ``characteristic``, ``bytes``, ``error``
=====================  ==========================================================================

Consumers: :meth:`AuditTrail.add_sink` (a callable per record, e.g. the recorder or a
:class:`JsonLinesWriter` for ``run --event-log``), and :attr:`AuditTrail.records` (the last
``keep`` records in memory).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

logger = logging.getLogger(__name__)


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dataclasses as dicts (with a ``type``), enums by name,
    bytes as hex, floats rounded to microseconds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, enum.Enum):
        return value.name.lower() if not isinstance(value.value, str) else value.value
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex(" ")
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the audit trail."""

    t: float
    kind: str
    data: dict[str, Any]
    wall: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A flat JSON-ready dict: ``t``, ``wall``, ``kind`` then the data fields."""
        out: dict[str, Any] = {"t": round(self.t, 6), "kind": self.kind}
        if self.wall is not None:
            out["wall"] = round(self.wall, 6)
        out.update(to_jsonable(self.data))
        return out

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


AuditSink = Callable[[AuditRecord], None]


class AuditTrail:
    """Collects audit records and hands each to the sinks (in order, synchronously)."""

    def __init__(self, keep: int = 10_000) -> None:
        self.records: deque[AuditRecord] = deque(maxlen=keep)
        self.sink_errors = 0
        """How many times a sink raised (each failure is logged; the first of a run with its
        traceback)."""
        self._sinks: list[AuditSink] = []
        self._failing: set[AuditSink] = set()

    def add_sink(self, sink: AuditSink) -> None:
        """Call ``sink(record)`` for every future record."""
        self._sinks.append(sink)

    def remove_sink(self, sink: AuditSink) -> None:
        """Stop calling ``sink``."""
        self._sinks.remove(sink)
        self._failing.discard(sink)

    def add(self, t: float, kind: str, wall: float | None = None, **data: Any) -> AuditRecord:
        """Append a record and pass it to the sinks.

        Never raises: the caller may be about to write Stop or handling a lost link, and a sink
        (an ``--event-log`` file on a full disk, a recorder) must not get in its way. A failing
        sink is logged and counted in :attr:`sink_errors`, and keeps being called.
        """
        record = AuditRecord(t, kind, data, wall)
        self.records.append(record)
        for sink in list(self._sinks):
            try:
                sink(record)
            except Exception:
                self.sink_errors += 1
                if sink not in self._failing:
                    self._failing.add(sink)
                    logger.exception("audit sink %r failed on a %r record", sink, kind)
            else:
                self._failing.discard(sink)
        return record

    def of_kind(self, kind: str) -> list[AuditRecord]:
        """The kept records of one kind, oldest first."""
        return [r for r in self.records if r.kind == kind]


class JsonLinesWriter:
    """An audit sink writing one JSON object per line to a text stream (``--event-log``)."""

    def __init__(self, stream: IO[str], *, flush: bool = True) -> None:
        self._stream = stream
        self._flush = flush

    def __call__(self, record: AuditRecord) -> None:
        self._stream.write(record.to_json() + "\n")
        if self._flush:
            self._stream.flush()


__all__ = ["AuditRecord", "AuditSink", "AuditTrail", "JsonLinesWriter", "to_jsonable"]
