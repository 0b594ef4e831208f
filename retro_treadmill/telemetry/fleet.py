"""What a monitor knows about every treadmill under one MQTT prefix. Pure: no IO, no clock reads.

Feed it every message seen on ``<prefix>/+/availability|state|telemetry|event`` with
:meth:`Fleet.ingest` and the receive time; :meth:`Fleet.rows` says, for a given ``now``, what to
show: online/offline from the retained availability (and the last will), stale when telemetry
stopped arriving, the latest state, measurements and alarm. Malformed payloads are counted and
ignored, never raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from retro_treadmill.telemetry.schema import AVAILABILITY_OFFLINE, AVAILABILITY_ONLINE

STALE_AFTER_S = 5.0
"""No telemetry for this long from an online treadmill: shown as stale."""

_KINDS = ("availability", "state", "telemetry", "event")

MOVING_STATES = frozenset({"countdown", "running", "stopping"})
"""Session states in which telemetry must be flowing."""


class Liveness(StrEnum):
    """How fresh the picture of one treadmill is."""

    ONLINE = "online"
    STALE = "stale"
    """Online, but telemetry stopped for ``stale_after_s`` (or never came while moving)."""
    OFFLINE = "offline"
    """Availability is ``offline`` (a clean exit or the broker's last will)."""
    UNKNOWN = "unknown"
    """Seen on some topic but no availability yet."""


@dataclass(frozen=True)
class TreadmillView:
    """The latest known facts about one treadmill (km/h, percent, metres, bpm)."""

    treadmill_id: str
    availability: str | None = None
    state: str | None = None
    profile: str | None = None
    speed_kmh: float | None = None
    speed_mph: float | None = None
    incline_pct: float | None = None
    distance_m: float | None = None
    heart_rate_bpm: int | None = None
    alarm: str | None = None
    last_event: str | None = None
    last_telemetry_at: float | None = None
    """Receive time (the caller's clock) of the latest telemetry message."""


@dataclass(frozen=True)
class TreadmillRow:
    """One row of the monitor: the view plus its liveness at ``now``."""

    view: TreadmillView
    liveness: Liveness
    telemetry_age_s: float | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class Fleet:
    """Every treadmill seen under ``prefix``, by id."""

    def __init__(self, prefix: str, *, stale_after_s: float = STALE_AFTER_S) -> None:
        self.prefix = prefix.strip("/")
        self.stale_after_s = stale_after_s
        self.malformed = 0
        """Messages on our topics whose payload was not what the schema documents."""
        self._views: dict[str, TreadmillView] = {}

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters a monitor subscribes to."""
        return [f"{self.prefix}/+/{kind}" for kind in _KINDS]

    def ingest(self, topic: str, payload: bytes, now: float) -> str | None:
        """Take one message; returns the treadmill id it updated (``None``: not ours or bad)."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or parts[1] not in _KINDS or not parts[0]:
            return None
        treadmill_id, kind = parts
        view = self._views.get(treadmill_id, TreadmillView(treadmill_id))
        try:
            updated = self._apply(view, kind, payload, now)
        except (ValueError, UnicodeDecodeError, TypeError, KeyError, AttributeError):
            updated = None
        if updated is None:
            self.malformed += 1
            return None
        self._views[treadmill_id] = updated
        return treadmill_id

    def _apply(
        self, view: TreadmillView, kind: str, payload: bytes, now: float
    ) -> TreadmillView | None:
        if kind == "availability":
            text = payload.decode()
            if text not in (AVAILABILITY_ONLINE, AVAILABILITY_OFFLINE):
                return None
            return replace(view, availability=text)
        body = json.loads(payload.decode())
        if not isinstance(body, dict):
            return None
        if kind == "state":
            state = body["state"]
            if not isinstance(state, str):
                return None
            profile = body.get("profile")
            alarm = body.get("alarm")
            return replace(
                view,
                state=state,
                profile=profile if isinstance(profile, str) else None,
                alarm=alarm if isinstance(alarm, str) and alarm else None,
            )
        if kind == "telemetry":
            hr = body.get("heart_rate_bpm")
            return replace(
                view,
                speed_kmh=_number(body.get("speed_kmh")),
                speed_mph=_number(body.get("speed_mph")),
                incline_pct=_number(body.get("incline_pct")),
                distance_m=_number(body.get("distance_m")),
                heart_rate_bpm=hr if isinstance(hr, int) and not isinstance(hr, bool) else None,
                last_telemetry_at=now,
            )
        message = body["message"]
        if not isinstance(message, str):
            return None
        if body.get("category") == "alarm":
            return replace(view, alarm=message, last_event=message)
        return replace(view, last_event=message)

    def rows(self, now: float) -> list[TreadmillRow]:
        """Every treadmill, sorted by id, with its liveness at ``now``."""
        result = []
        for treadmill_id in sorted(self._views):
            view = self._views[treadmill_id]
            age = None if view.last_telemetry_at is None else max(0.0, now - view.last_telemetry_at)
            if view.availability == AVAILABILITY_OFFLINE:
                liveness = Liveness.OFFLINE
            elif view.availability is None:
                liveness = Liveness.UNKNOWN
            elif (age is not None and age > self.stale_after_s) or (
                age is None and view.state in MOVING_STATES
            ):
                liveness = Liveness.STALE
            else:
                liveness = Liveness.ONLINE
            result.append(TreadmillRow(view, liveness, age))
        return result

    def get(self, treadmill_id: str) -> TreadmillView | None:
        """The view of one treadmill, if seen."""
        return self._views.get(treadmill_id)

    def remove(self, treadmill_id: str) -> bool:
        """Forget a treadmill (the operator cleared a finished or offline row); it comes back with
        its next message. Returns whether it was known."""
        return self._views.pop(treadmill_id, None) is not None


def needs_attention(row: TreadmillRow) -> bool:
    """An alarm is showing, or the picture is stale while the treadmill should be moving."""
    return (
        row.view.alarm is not None
        or row.view.state == "alarm"
        or (row.liveness is Liveness.STALE and row.view.availability is not None)
    )


def is_done(row: TreadmillRow) -> bool:
    """Finished or offline (shown greyed; the operator may remove the row)."""
    return row.liveness is Liveness.OFFLINE or (
        row.view.state == "finished" and row.view.alarm is None
    )


_STATE_RANK = {
    "alarm": 0,
    "stopping": 2,
    "running": 3,
    "countdown": 3,
    "paused": 3,
    "preflight": 4,
    "idle": 4,
}


def state_rank(row: TreadmillRow) -> int:
    """Sort rank by state: alarms and stale moving treadmills first, then stopping, moving,
    waiting, unknown, and finished or offline last."""
    if needs_attention(row):
        return 0 if row.view.alarm is not None or row.view.state == "alarm" else 1
    if is_done(row):
        return 7 if row.liveness is Liveness.OFFLINE else 6
    return _STATE_RANK.get(row.view.state or "", 5)


def by_state(rows: list[TreadmillRow]) -> list[TreadmillRow]:
    """``rows`` sorted by :func:`state_rank`, then by treadmill id."""
    return sorted(rows, key=lambda r: (state_rank(r), r.view.treadmill_id))


__all__ = [
    "STALE_AFTER_S",
    "Fleet",
    "Liveness",
    "TreadmillRow",
    "TreadmillView",
    "by_state",
    "is_done",
    "needs_attention",
    "state_rank",
]
