"""Fault specifications for the virtual treadmill (``--fault SPEC`` and the Python API).

Syntax: ``KIND[:KEY=VALUE,...][@WHEN]``

- ``WHEN`` is simulated time since the virtual treadmill started: ``12s``, ``500ms``, ``1.5m`` or
  a bare number of seconds; ``A..B`` (e.g. ``5s..20s``) picks a time uniformly at random, seeded
  by ``--seed``. Without ``@WHEN`` the fault applies at once (time 0).
- Durations take the same units; speeds take ``kmh`` (default) or ``mph`` (``0.3mph``).
- Every value is checked: times and durations at most a day (``for=``/``by=`` above 0), counts
  1 to 1,000,000, ``code``/``op`` one byte (0-255), console speed steps above 0 and at most
  10 km/h, each key once. A wrong value is a :class:`ConfigError` naming it.

Kinds and their keys:

=========================  =======================================================================
``drop-link``              drop every connection (HCI disconnect); the treadmill advertises again;
                           ``every=DURATION`` or ``every=A..B`` repeats it (random gaps, seeded)
``drop-notifications``     stop sending notifications; ``for=DURATION`` (default: for good);
                           ``only=2ACD`` (one characteristic: 2ACD, 2ADA, 2AD3; default all)
``delay-notifications``    hold every notification back ``by=DURATION`` (default 2s), ``for=``
``delay-responses``        control-point responses go out ``by=DURATION`` late (default 3s);
                           ``count=N`` responses (default all); the procedure stays in progress
``lose-responses``         control-point requests are applied but never answered; ``count=N``
                           (default 1)
``result``                 answer ``code=N`` (2-5 or any byte 0-255; default 4) instead of the real
                           result, without applying the request; ``op=N`` only that op code;
                           ``count=N`` requests (default 1)
``console-speed-up``       the user presses speed + on the console: ``by=SPEED`` (default 0.5kmh)
``console-speed-down``     the user presses speed -: ``by=SPEED`` (default 0.5kmh)
``console-stop``           the user presses Stop on the console (status 02 01)
``safety-key``             the safety key is pulled: belt halts at once, status 0x03
``take-control``           another client takes control: 0xFF Control Permission Lost
``reboot``                 power cycle: links drop, state resets, advertising resumes after
                           ``after=DURATION`` (default 2s)
=========================  =======================================================================

Examples: ``drop-link@12s``, ``drop-link@10s..40s``, ``drop-link:every=20s..60s@10s``,
``safety-key@30s``, ``console-speed-up:by=0.3mph@20s``, ``result:code=5,op=2,count=2``,
``delay-notifications:by=4s,for=10s@5s``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from enum import StrEnum

from retro_treadmill.errors import ConfigError
from retro_treadmill.units import mph_to_kmh


class FaultKind(StrEnum):
    """Every fault the virtual treadmill can inject."""

    DROP_LINK = "drop-link"
    DROP_NOTIFICATIONS = "drop-notifications"
    DELAY_NOTIFICATIONS = "delay-notifications"
    DELAY_RESPONSES = "delay-responses"
    LOSE_RESPONSES = "lose-responses"
    RESULT = "result"
    CONSOLE_SPEED_UP = "console-speed-up"
    CONSOLE_SPEED_DOWN = "console-speed-down"
    CONSOLE_STOP = "console-stop"
    SAFETY_KEY = "safety-key"
    TAKE_CONTROL = "take-control"
    REBOOT = "reboot"


_KEYS: dict[FaultKind, frozenset[str]] = {
    FaultKind.DROP_LINK: frozenset({"every"}),
    FaultKind.DROP_NOTIFICATIONS: frozenset({"for", "only"}),
    FaultKind.DELAY_NOTIFICATIONS: frozenset({"by", "for", "only"}),
    FaultKind.DELAY_RESPONSES: frozenset({"by", "count"}),
    FaultKind.LOSE_RESPONSES: frozenset({"count"}),
    FaultKind.RESULT: frozenset({"code", "op", "count"}),
    FaultKind.CONSOLE_SPEED_UP: frozenset({"by"}),
    FaultKind.CONSOLE_SPEED_DOWN: frozenset({"by"}),
    FaultKind.CONSOLE_STOP: frozenset(),
    FaultKind.SAFETY_KEY: frozenset(),
    FaultKind.TAKE_CONTROL: frozenset(),
    FaultKind.REBOOT: frozenset({"after"}),
}

_CHARACTERISTICS = frozenset({"2ACD", "2ADA", "2AD3"})

MAX_FAULT_TIME_S = 86_400.0
"""Longest time a fault takes (``@WHEN``, ``for=``, ``by=``, ``after=``, ``every=``): a day."""
MAX_COUNT = 1_000_000
"""Most requests a counted fault (``count=``) can affect."""
MAX_CONSOLE_STEP_KMH = 10.0
"""Largest console speed change (``by=`` of console-speed-up/-down): more than any treadmill's
whole range above walking speed."""


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: ``kind`` at simulated time ``at`` (seconds) with its options.

    ``duration_s``/``delay_s``/``count``/``code``/``opcode``/``speed_kmh``/``only`` are the
    parsed keys (``None`` = the kind's default).
    """

    kind: FaultKind
    at: float = 0.0
    duration_s: float | None = None
    delay_s: float | None = None
    count: int | None = None
    code: int | None = None
    opcode: int | None = None
    speed_kmh: float | None = None
    only: str | None = None
    every: tuple[float, float] | None = None
    """Repeat gap (low, high) in seconds, drawn uniformly each time (``every=``)."""
    spec: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.spec or f"{self.kind.value}@{self.at:g}s"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*$")
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kmh|km/h|mph)?\s*$")


def parse_duration(text: str, *, spec: str = "") -> float:
    """``"12s"``, ``"500ms"``, ``"1.5m"`` or ``"12"`` -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(
            f"{text!r} is not a duration; write e.g. 12s, 500ms or 1.5m",
            where=f"--fault {spec}" if spec else "",
        )
    value = float(m.group(1))
    unit = m.group(2) or "s"
    return value / 1000.0 if unit == "ms" else value * 60.0 if unit in ("m", "min") else value


def _bounded_duration(text: str, spec: str, key: str, *, zero_ok: bool = False) -> float:
    """A duration option (``key=text``; ``key`` ``"@"`` for the time) within 0..a day."""
    seconds = parse_duration(text, spec=spec)
    name = f"@{text}" if key == "@" else f"{key}={text}"
    if seconds > MAX_FAULT_TIME_S:
        raise ConfigError(
            f"{name}: at most {MAX_FAULT_TIME_S:g} s (a day)", where=f"--fault {spec}", field=key
        )
    if seconds <= 0 and not zero_ok:
        raise ConfigError(
            f"{name}: write a duration above 0, e.g. 2s", where=f"--fault {spec}", field=key
        )
    return seconds


def _parse_speed(text: str, spec: str) -> float:
    m = _SPEED.match(text)
    if not m:
        raise ConfigError(
            f"{text!r} is not a speed; write e.g. 0.5kmh or 0.3mph", where=f"--fault {spec}"
        )
    value = float(m.group(1))
    kmh = mph_to_kmh(value) if m.group(2) == "mph" else value
    if not 0 < kmh <= MAX_CONSOLE_STEP_KMH:
        problem = "write a speed above 0" if kmh <= 0 else f"at most {MAX_CONSOLE_STEP_KMH:g} km/h"
        raise ConfigError(f"by={text}: {problem}", where=f"--fault {spec}", field="by")
    return kmh


def _parse_int(text: str, spec: str, key: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise ConfigError(
            f"{key}={text!r} is not an integer", where=f"--fault {spec}", field=key
        ) from None
    problem = ""
    if key == "count" and value < 1:
        problem = "write a count of 1 or more (leave count out for the default)"
    elif key == "count" and value > MAX_COUNT:
        problem = f"at most {MAX_COUNT}"
    elif key == "code" and not 0 <= value <= 0xFF:
        problem = (
            "a result code is one byte, 0-255 (2 not supported, 3 invalid, 4 failed, 5 no control)"
        )
    elif key == "op" and not 0 <= value <= 0xFF:
        problem = "an op code is one byte, 0-255 (e.g. 2 Set Target Speed, 8 Stop or Pause)"
    if problem:
        raise ConfigError(f"{key}={text}: {problem}", where=f"--fault {spec}", field=key)
    return value


def _parse_every(text: str, spec: str) -> tuple[float, float]:
    low_text, _, high_text = text.partition("..")
    low = _bounded_duration(low_text, spec, "every", zero_ok=True)
    high = _bounded_duration(high_text, spec, "every", zero_ok=True) if high_text else low
    if not 0 < low <= high:
        raise ConfigError(
            f"every={text!r}: write a positive gap such as 30s or 20s..60s",
            where=f"--fault {spec}",
            field="every",
        )
    return low, high


def parse_fault(spec: str, *, rng: random.Random | None = None) -> Fault:
    """Parse one ``--fault`` specification (see the module docstring for the syntax).

    ``rng`` picks the time of ``@A..B`` faults (seeded by the caller for repeatable runs).
    Raises :class:`ConfigError` naming the part that is wrong.
    """
    text = spec.strip()
    when = "0"
    if "@" in text:
        text, when = text.split("@", 1)
    name, _, options = text.partition(":")
    try:
        kind = FaultKind(name.strip())
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        raise ConfigError(
            f"unknown fault {name.strip()!r}; choose one of: {kinds}", where=f"--fault {spec}"
        ) from None
    if ".." in when:
        low_text, high_text = when.split("..", 1)
        low = _bounded_duration(low_text, spec, "@", zero_ok=True)
        high = _bounded_duration(high_text, spec, "@", zero_ok=True)
        if high < low:
            raise ConfigError(f"time range {when!r} ends before it starts", where=f"--fault {spec}")
        at = (rng or random.Random(0)).uniform(low, high)
    else:
        at = _bounded_duration(when, spec, "@", zero_ok=True)
    values: dict[str, str] = {}
    for item in filter(None, (o.strip() for o in options.split(","))):
        key, eq, value = item.partition("=")
        if not eq and key in _KEYS[kind]:
            raise ConfigError(
                f"{key} needs a value ({key}=...)", where=f"--fault {spec}", field=key
            )
        if not eq or key not in _KEYS[kind]:
            allowed = ", ".join(sorted(_KEYS[kind])) or "none"
            raise ConfigError(
                f"{item!r} is not an option of {kind.value} (options: {allowed})",
                where=f"--fault {spec}",
                field=key,
            )
        if key in values:
            raise ConfigError(f"{key} is given twice", where=f"--fault {spec}", field=key)
        values[key] = value.strip()
    only = values.get("only")
    if only is not None and only.upper() not in _CHARACTERISTICS:
        raise ConfigError(
            f"only={only!r}: choose one of 2ACD, 2ADA, 2AD3", where=f"--fault {spec}", field="only"
        )
    return Fault(
        kind=kind,
        at=at,
        duration_s=_bounded_duration(values["for"], spec, "for") if "for" in values else None,
        delay_s=(
            _bounded_duration(values["by"], spec, "by")
            if "by" in values and kind in (FaultKind.DELAY_NOTIFICATIONS, FaultKind.DELAY_RESPONSES)
            else _bounded_duration(values["after"], spec, "after", zero_ok=True)
            if "after" in values
            else None
        ),
        count=_parse_int(values["count"], spec, "count") if "count" in values else None,
        code=_parse_int(values["code"], spec, "code") if "code" in values else None,
        opcode=_parse_int(values["op"], spec, "op") if "op" in values else None,
        speed_kmh=(
            _parse_speed(values["by"], spec)
            if "by" in values and kind in (FaultKind.CONSOLE_SPEED_UP, FaultKind.CONSOLE_SPEED_DOWN)
            else None
        ),
        only=only.upper() if only else None,
        every=_parse_every(values["every"], spec) if "every" in values else None,
        spec=spec.strip(),
    )


__all__ = ["Fault", "FaultKind", "parse_duration", "parse_fault"]
