"""Session recorder: a JSON-lines file with the same payloads MQTT carries (``--event-log PATH``).

One JSON object per line, each with a ``"type"`` of ``state``, ``telemetry`` or ``event`` and
otherwise exactly the documented MQTT payload (:mod:`retro_treadmill.telemetry.schema`), so one
parser reads both. Events are flushed at once (they survive a crash); telemetry lines are buffered
and flushed with the next event or on close. Write errors (disk full) are logged and counted, never
raised into the control loop.

:class:`SessionRecorder` and :class:`Tee` implement the same three ``publish_*`` methods as
:class:`~retro_treadmill.telemetry.mqtt.MqttPublisher`, so the snapshot bridge feeds either or both.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from retro_treadmill.errors import ConfigError
from retro_treadmill.telemetry.mqtt import MqttConnectionState, MqttStatus
from retro_treadmill.telemetry.schema import (
    Event,
    EventCategory,
    Severity,
    StateUpdate,
    TelemetrySample,
)

_log = logging.getLogger(__name__)


class SessionRecorder:
    """Appends a session's state changes, telemetry (optional) and events to ``path``.

    ``wall_clock`` (Unix time) stamps the lines. Open with ``with SessionRecorder(...) as log:``
    or :meth:`open`/:meth:`close`; an unwritable path is a :class:`ConfigError` at open.
    """

    def __init__(
        self,
        path: Path,
        *,
        treadmill_id: str,
        telemetry: bool = True,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.treadmill_id = treadmill_id
        self.telemetry = telemetry
        self._wall_clock = wall_clock
        self._file: IO[str] | None = None
        self._seq = 0
        self.write_errors = 0
        """Lines lost to write errors (logged once each)."""

    def open(self) -> None:
        """Open ``path`` for appending (parent folders are created)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write the event log: {exc.strerror or exc}; choose another --event-log",
                path=str(self.path),
            ) from None

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._error(exc)
            self._file = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def publish_state(self, update: StateUpdate) -> None:
        """Record a state change."""
        self._write("state", update.to_payload(self.treadmill_id, self._wall_clock()), flush=True)

    def publish_telemetry(self, sample: TelemetrySample) -> None:
        """Record a telemetry sample (if ``telemetry`` is on)."""
        if self.telemetry:
            payload = sample.to_payload(self.treadmill_id, self._wall_clock())
            self._write("telemetry", payload, flush=False)

    def publish_event(self, event: Event) -> None:
        """Record an event (flushed at once)."""
        self._seq += 1
        try:
            payload = event.to_payload(self.treadmill_id, self._wall_clock(), self._seq)
            line = _line("event", payload)
        except (TypeError, ValueError):
            bare = Event(event.category, event.code, event.message, event.severity, {})
            line = _line("event", bare.to_payload(self.treadmill_id, self._wall_clock(), self._seq))
        self._write_line(line, flush=True)

    def record_mqtt_status(self, status: MqttStatus) -> None:
        """Record an MQTT connection change (use as, or in, the publisher's ``on_status``)."""
        self.publish_event(
            Event(
                EventCategory.MQTT,
                f"mqtt_{status.state}",
                f"MQTT {status.state}: {status.broker}"
                + (f" ({status.last_error})" if status.last_error else ""),
                Severity.INFO
                if status.state is MqttConnectionState.CONNECTED
                else Severity.WARNING,
                {
                    "state": str(status.state),
                    "connects": status.connects,
                    "events_queued": status.events_queued,
                    "events_dropped": status.events_dropped,
                    "telemetry_dropped": status.telemetry_dropped,
                },
            )
        )

    def _write(self, kind: str, payload: Mapping[str, Any], *, flush: bool) -> None:
        try:
            line = _line(kind, payload)
        except (TypeError, ValueError) as exc:
            self._error(exc)
            return
        self._write_line(line, flush=flush)

    def _write_line(self, line: str, *, flush: bool) -> None:
        if self._file is None:
            return
        try:
            self._file.write(line)
            if flush:
                self._file.flush()
        except (OSError, ValueError) as exc:
            self._error(exc)

    def _error(self, exc: BaseException) -> None:
        self.write_errors += 1
        _log.error("event log %s: line not written: %s", self.path, exc)


def _line(kind: str, payload: Mapping[str, Any]) -> str:
    return json.dumps({"type": kind, **payload}, separators=(",", ":"), allow_nan=False) + "\n"


class Tee:
    """Sends every ``publish_*`` call to each sink; an exception in one sink is logged and the
    others still get the call."""

    def __init__(self, sinks: Iterable[Any]) -> None:
        self.sinks = list(sinks)

    def _each(self, method: str, value: object) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(value)
            except Exception:
                _log.exception("%s.%s failed", type(sink).__name__, method)

    def publish_state(self, update: StateUpdate) -> None:
        """Fan out a state update."""
        self._each("publish_state", update)

    def publish_telemetry(self, sample: TelemetrySample) -> None:
        """Fan out a telemetry sample."""
        self._each("publish_telemetry", sample)

    def publish_event(self, event: Event) -> None:
        """Fan out an event."""
        self._each("publish_event", event)


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every line of an event log as a dict (for tools and tests)."""
    with path.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


__all__ = ["SessionRecorder", "Tee", "read_log"]
