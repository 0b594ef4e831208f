"""Rehab profiles: the pure model of a guided backward-walking session.

A profile is a list of segments (warm-up, ramp, hold, interval, cool-down), each with a walking
direction, a speed and an incline (a constant value or a linear from-to ramp), a duration and a
prompt shown to the walker. Interval blocks in the file are expanded here into plain segments.

Units: speeds are km/h and inclines percent (FTMS units, DESIGN rule 5) everywhere in this model;
``Profile.units`` only records which speed unit the file was written in, for display.

This module is sans-IO: :func:`parse_profile` takes the file's text (and its path, for messages)
and returns a validated :class:`Profile` or raises :class:`retro_treadmill.errors.ConfigError`.
Reading files is :mod:`retro_treadmill.profiles`' job.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.session.coaching import MAX_CUE_CHARS
from retro_treadmill.units import SpeedUnit, from_kmh, to_kmh, unit_label

SegmentKind = Literal["warm-up", "ramp", "hold", "interval", "cool-down"]
"""What a segment is for; ``interval`` segments come from an interval block's expansion."""

Direction = Literal["backward", "forward"]
"""Which way the walker faces: ``backward`` = facing the rear of the deck (retro-walking)."""

SEGMENT_KINDS: tuple[SegmentKind, ...] = ("warm-up", "ramp", "hold", "interval", "cool-down")
DIRECTIONS: tuple[Direction, ...] = ("backward", "forward")


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a session at a constant or linearly ramped speed and incline.

    Speeds are km/h, inclines percent, the duration seconds. ``source_index`` is the 1-based
    number of the ``[[segments]]`` entry in the file this segment came from; for segments expanded
    from an interval block ``repeat`` and ``step`` (both 1-based) say which repetition and which
    step of it this is (both 0 otherwise).
    """

    kind: SegmentKind
    direction: Direction
    speed_from_kmh: float
    speed_to_kmh: float
    incline_from_pct: float
    incline_to_pct: float
    duration_s: float
    prompt: str = ""
    source_index: int = 0
    repeat: int = 0
    step: int = 0

    @property
    def max_speed_kmh(self) -> float:
        """The highest speed in this segment, km/h."""
        return max(self.speed_from_kmh, self.speed_to_kmh)

    @property
    def min_speed_kmh(self) -> float:
        """The lowest speed in this segment, km/h."""
        return min(self.speed_from_kmh, self.speed_to_kmh)

    @property
    def max_incline_pct(self) -> float:
        """The highest incline in this segment, percent."""
        return max(self.incline_from_pct, self.incline_to_pct)

    @property
    def min_incline_pct(self) -> float:
        """The lowest incline in this segment, percent."""
        return min(self.incline_from_pct, self.incline_to_pct)

    def speed_at(self, elapsed_s: float) -> float:
        """The target speed (km/h) ``elapsed_s`` seconds into the segment (clamped to its span)."""
        return _lerp(self.speed_from_kmh, self.speed_to_kmh, elapsed_s, self.duration_s)

    def incline_at(self, elapsed_s: float) -> float:
        """The target incline (%) ``elapsed_s`` seconds into the segment (clamped to its span)."""
        return _lerp(self.incline_from_pct, self.incline_to_pct, elapsed_s, self.duration_s)

    @property
    def label(self) -> str:
        """Where this segment is in its file, for messages: ``segment 3 'ramp'`` (plus
        ``step 2, repeat 4`` for interval segments)."""
        text = f"segment {self.source_index} '{self.kind}'"
        if self.repeat:
            text += f" step {self.step}, repeat {self.repeat}"
        return text


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """Caps a profile sets for itself (optional ``[limits]`` table); km/h and percent.

    They can only tighten: the governor uses the lowest of the device range, the clinic's
    effective limits and these (see :meth:`apply_to`).
    """

    max_speed_kmh: float | None = None
    max_incline_pct: float | None = None

    def apply_to(self, limits: SafetyLimits) -> SafetyLimits:
        """``limits`` tightened by this profile's caps (the lowest cap wins)."""
        result = limits
        if self.max_speed_kmh is not None and self.max_speed_kmh < result.max_speed_kmh:
            result = replace(
                result,
                max_speed_kmh=self.max_speed_kmh,
                max_start_speed_kmh=min(result.max_start_speed_kmh, self.max_speed_kmh),
            )
        if self.max_incline_pct is not None and self.max_incline_pct < result.max_incline_pct:
            result = replace(result, max_incline_pct=self.max_incline_pct)
        return result


@dataclass(frozen=True, slots=True)
class DeviceRange:
    """What a treadmill supports (FTMS Supported Speed Range 0x2AD4, km/h, and Supported
    Inclination Range 0x2AD5, percent). Profiles outside it are rejected, never clamped."""

    min_speed_kmh: float
    max_speed_kmh: float
    min_incline_pct: float | None = None
    max_incline_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A validated rehab profile: metadata plus the expanded segments in order.

    ``units`` is the speed unit the file was written in (for display); the values are km/h.
    ``source`` is the path the profile was loaded from (``""`` when built in code).
    """

    name: str
    description: str
    audience: str
    units: SpeedUnit
    segments: tuple[Segment, ...]
    limits: ProfileLimits = field(default_factory=ProfileLimits)
    source: str = ""
    cues: tuple[str, ...] = ()
    """Posture cues shown in rotation during backward segments (``()``: the built-in ones)."""
    text: str = field(default="", repr=False, compare=False)
    """The TOML text this profile was parsed from (``""`` when built in code): what a session
    record keeps, as it was when the session loaded it."""

    @property
    def total_duration_s(self) -> float:
        """Planned walking time, seconds (stops for turning around not included)."""
        return sum(s.duration_s for s in self.segments)

    @property
    def speed_range_kmh(self) -> tuple[float, float]:
        """Lowest and highest target speed over all segments, km/h."""
        return (
            min(s.min_speed_kmh for s in self.segments),
            max(s.max_speed_kmh for s in self.segments),
        )

    @property
    def incline_range_pct(self) -> tuple[float, float]:
        """Lowest and highest target incline over all segments, percent."""
        return (
            min(s.min_incline_pct for s in self.segments),
            max(s.max_incline_pct for s in self.segments),
        )

    @property
    def start_speed_kmh(self) -> float:
        """The first speed commanded after the countdown, km/h."""
        return self.segments[0].speed_from_kmh

    @property
    def direction_changes(self) -> int:
        """How many times the walker turns around between segments (each one is a full stop)."""
        return sum(
            1
            for a, b in zip(self.segments, self.segments[1:], strict=False)
            if a.direction != b.direction
        )

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.strip().splitlines()[0] if self.description.strip() else ""

    def segment_at(self, elapsed_s: float) -> tuple[int, float] | None:
        """The index of the segment ``elapsed_s`` seconds of walking into the profile and the
        seconds already spent in it; ``None`` once the profile is over."""
        start = 0.0
        for index, segment in enumerate(self.segments):
            if elapsed_s < start + segment.duration_s:
                return index, max(0.0, elapsed_s - start)
            start += segment.duration_s
        return None


TOP_KEYS = ("name", "description", "audience", "units", "limits", "segments", "cues")
"""Keys allowed at the top of a profile file."""
LIMIT_KEYS = ("max_speed", "max_incline")
"""Keys of the optional ``[limits]`` table (speed in the file's ``units``, incline in %)."""
SEGMENT_KEYS = ("kind", "direction", "speed", "incline", "duration_s", "prompt")
"""Keys of a ``[[segments]]`` entry of every kind but ``interval``."""
INTERVAL_KEYS = ("kind", "repeats", "steps")
"""Keys of a ``[[segments]]`` entry with ``kind = "interval"``."""
STEP_KEYS = ("direction", "speed", "incline", "duration_s", "prompt")
"""Keys of one ``[[segments.steps]]`` entry of an interval block."""
RAMP_KEYS = ("from", "to")
"""Keys of a ``{ from = ..., to = ... }`` ramp value."""
MAX_REPEATS = 100
"""Most repetitions an interval block may ask for."""
MAX_SEGMENT_S = 4 * 3600
"""Longest segment, seconds: nobody walks backwards for longer at one stretch; more is a typo
(minutes written as seconds, an extra zero)."""
MAX_PROFILE_S = 8 * 3600
"""Longest profile, seconds (a working day)."""
MAX_SEGMENTS = 500
"""Most segments a profile may have once its interval blocks are expanded."""
ALLOW_KEY = "allow_above_default_caps"
"""The clinic config key (``[safety]`` table) that lets a cap go above DESIGN's default."""

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_EPS = 1e-9

Locator = Callable[[int, int, str], int | None]
"""Maps (segment number, step number, key) to a 1-based line of the file, when it can."""


def parse_profile(
    text: str,
    path: str = "<profile>",
    *,
    limits: SafetyLimits = DEFAULT_LIMITS,
    device: DeviceRange | None = None,
) -> Profile:
    """Parse and validate a profile file's text.

    ``path`` names the file in messages. ``limits`` are the effective safety limits (DESIGN's
    defaults as tightened or explicitly loosened by the clinic config); ``device`` the treadmill's
    supported ranges when known. Every problem raises :class:`ConfigError` naming the file, the
    segment and the field (and the line where it can be found); nothing is ever clamped.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    locate = _text_locator(text)
    profile = replace(_Builder(path, locate).build(data), text=text)
    check_profile(profile, limits, device, locate=locate)
    return profile


def check_profile(
    profile: Profile,
    limits: SafetyLimits = DEFAULT_LIMITS,
    device: DeviceRange | None = None,
    *,
    locate: Locator | None = None,
) -> None:
    """Check every segment of ``profile`` against ``limits``, ``device`` and the profile's own
    caps; raise :class:`ConfigError` for the first value outside them.

    Checked: speeds within [minimum running speed, lowest speed cap]; inclines within the incline
    caps; the first speed after a standstill (session start, turning around) at most the start
    speed cap; ramps no steeper than the rate limits. Use it again once a device range is known.
    """
    _Checker(profile, limits, device, locate).check()


class _Builder:
    """Turns the decoded TOML document into a :class:`Profile`, checking shape and types."""

    def __init__(self, path: str, locate: Locator) -> None:
        self.path = path
        self.locate = locate

    def fail(
        self,
        message: str,
        *,
        key: str,
        segment: int = 0,
        kind: str = "",
        step: int = 0,
        table: str = "",
        at: str = "",
    ) -> ConfigError:
        """The error for ``key``; ``at`` is the key whose line to show when ``key`` is not
        written at the start of a line (a key inside an inline table)."""
        where = ""
        if segment:
            where = f"segment {segment}" + (f" '{kind}'" if kind else "")
            if step:
                where += f" step {step}"
        elif table:
            where = f"[{table}]"
        line = self.locate(segment, step, f"{table}.{at or key}" if table else at or key)
        if line is None and segment:
            line = self.locate(segment, step, "")
        if line is not None:
            message += f" (line {line})"
        field_path = key
        if segment:
            field_path = f"segments[{segment}]" + (f".steps[{step}]" if step else "") + f".{key}"
        elif table:
            field_path = f"{table}.{key}"
        return ConfigError(message, path=self.path, where=where, field=field_path)

    def build(self, data: Mapping[str, Any]) -> Profile:
        self._unknown_keys(data, TOP_KEYS)
        if not data:
            raise self.fail(
                "the profile is empty: it needs name, description, audience, units "
                "and at least one [[segments]] entry",
                key="",
            )
        for key in ("name", "description", "audience", "units", "segments"):
            if key not in data:
                raise self.fail(f"missing required key '{key}'", key=key)
        name = self._text(data["name"], key="name")
        if not _NAME_RE.match(name):
            raise self.fail(
                f"name {name!r} must be lowercase letters, digits and hyphens (e.g. 'first-steps')",
                key="name",
            )
        description = self._text(data["description"], key="description", lines=True)
        audience = self._text(data["audience"], key="audience")
        units_value = data["units"]
        if units_value not in ("mph", "kmh"):
            raise self.fail(
                f'units must be "mph" or "kmh" (speeds; inclines are always %), '
                f"got {_describe(units_value)}",
                key="units",
            )
        units: SpeedUnit = "mph" if units_value == "mph" else "kmh"
        profile_limits = self._limits(data.get("limits"), units)
        raw_segments = data["segments"]
        if not isinstance(raw_segments, list) or not all(isinstance(s, dict) for s in raw_segments):
            raise self.fail(
                "segments must be an array of tables ([[segments]]), "
                f"got {_describe(raw_segments)}",
                key="segments",
            )
        if not raw_segments:
            raise self.fail(
                "the profile has no segments: add at least one [[segments]]", key="segments"
            )
        segments: list[Segment] = []
        for number, raw in enumerate(raw_segments, start=1):
            segments.extend(self._segment(number, raw, units))
            if len(segments) > MAX_SEGMENTS:
                raise self.fail(
                    f"{len(segments)} segments (intervals expanded); at most {MAX_SEGMENTS}",
                    key="segments",
                )
        total = sum(s.duration_s for s in segments)
        if total > MAX_PROFILE_S:
            hours, rest = divmod(round(total), 3600)
            raise self.fail(
                f"the profile lasts {hours}:{rest // 60:02d}:{rest % 60:02d}; at most "
                f"{MAX_PROFILE_S // 3600} h",
                key="segments",
            )
        return Profile(
            name=name,
            description=description,
            audience=audience,
            units=units,
            segments=tuple(segments),
            limits=profile_limits,
            source=self.path,
            cues=self._cues(data.get("cues")),
        )

    def _cues(self, raw: object) -> tuple[str, ...]:
        """``cues = ["...", ...]``: one-line posture cues (each at most MAX_CUE_CHARS)."""
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            raise self.fail(
                f"cues must be a non-empty array of strings, got {_describe(raw)}", key="cues"
            )
        cues: list[str] = []
        for index, cue in enumerate(raw):
            if not isinstance(cue, str) or not cue.strip() or "\n" in cue.strip():
                raise self.fail(
                    f"cues[{index}] must be one non-empty line of text, got {_describe(cue)}",
                    key="cues",
                )
            if len(cue.strip()) > MAX_CUE_CHARS:
                raise self.fail(
                    f"cues[{index}] is {len(cue.strip())} characters; at most {MAX_CUE_CHARS} "
                    "fit on one line readable from 2 m",
                    key="cues",
                )
            cues.append(cue.strip())
        return tuple(cues)

    def _unknown_keys(
        self,
        table: Mapping[str, Any],
        allowed: tuple[str, ...],
        *,
        segment: int = 0,
        kind: str = "",
        step: int = 0,
        table_name: str = "",
        note: str = "",
        at: str = "",
    ) -> None:
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(allowed)
            raise self.fail(
                f"unknown key '{key}'{note}; {hint}",
                key=key,
                segment=segment,
                kind=kind,
                step=step,
                table=table_name,
                at=at,
            )

    def _text(self, value: object, *, key: str, lines: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(f"{key} must be a string, got {_describe(value)}", key=key)
        if not value.strip():
            raise self.fail(f"{key} must not be empty", key=key)
        self._no_control(value, key=key, lines=lines)
        return value

    def _no_control(self, text: str, *, key: str, lines: bool = False, **where: Any) -> None:
        """Refuse control characters (ESC, BEL, C1 ...): these texts reach the terminal raw, and
        an escape sequence in a prompt could clear or rewrite the operator's screen. ``lines``
        lets line breaks through (a multi-line description)."""
        allowed = "\n" if lines else ""
        for char in text:
            if unicodedata.category(char) == "Cc" and char not in allowed:
                raise self.fail(
                    f"{key} contains the control character U+{ord(char):04X}; write plain text"
                    + ("" if lines else " on one line"),
                    key=key,
                    **where,
                )

    def _limits(self, raw: object, units: SpeedUnit) -> ProfileLimits:
        if raw is None:
            return ProfileLimits()
        if not isinstance(raw, dict):
            raise self.fail(
                f"limits must be a table ([limits]), got {_describe(raw)}", key="limits"
            )
        self._unknown_keys(raw, LIMIT_KEYS, table_name="limits")
        max_speed = max_incline = None
        if "max_speed" in raw:
            value = self._number(raw["max_speed"], key="max_speed", table="limits")
            if value <= 0:
                raise self.fail(
                    f"max_speed must be above 0, got {_fmt(value)}", key="max_speed", table="limits"
                )
            max_speed = to_kmh(value, units)
        if "max_incline" in raw:
            max_incline = self._number(raw["max_incline"], key="max_incline", table="limits")
        return ProfileLimits(max_speed_kmh=max_speed, max_incline_pct=max_incline)

    def _number(self, value: object, *, key: str, **where: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{key} must be a number, got {_describe(value)}", key=key, **where)
        if not math.isfinite(value):
            raise self.fail(f"{key} must be a finite number, got {value}", key=key, **where)
        return float(value)

    def _segment(self, number: int, raw: Mapping[str, Any], units: SpeedUnit) -> list[Segment]:
        if "kind" not in raw:
            self._unknown_keys(raw, SEGMENT_KEYS + INTERVAL_KEYS[1:], segment=number)
            raise self.fail(
                "missing required key 'kind' (one of " + ", ".join(SEGMENT_KINDS) + ")",
                key="kind",
                segment=number,
            )
        kind = raw["kind"]
        if kind not in SEGMENT_KINDS:
            close = difflib.get_close_matches(str(kind), SEGMENT_KINDS, n=1, cutoff=0.5)
            hint = (
                f"did you mean '{close[0]}'?" if close else "use one of " + ", ".join(SEGMENT_KINDS)
            )
            raise self.fail(
                f"kind {_describe(kind)} is not a segment kind; {hint}", key="kind", segment=number
            )
        if kind == "interval":
            return self._interval(number, raw, units)
        self._unknown_keys(
            raw,
            SEGMENT_KEYS,
            segment=number,
            kind=kind,
            note=' (repeats and steps belong to kind = "interval")'
            if any(k in raw for k in INTERVAL_KEYS[1:])
            else "",
        )
        segment = self._walk(raw, units, kind=kind, segment=number)
        if kind == "hold" and (
            segment.speed_from_kmh != segment.speed_to_kmh
            or segment.incline_from_pct != segment.incline_to_pct
        ):
            key = "speed" if segment.speed_from_kmh != segment.speed_to_kmh else "incline"
            raise self.fail(
                f'a hold keeps {key} constant; give one value or use kind = "ramp"',
                key=key,
                segment=number,
                kind=kind,
            )
        if kind == "ramp" and (
            segment.speed_from_kmh == segment.speed_to_kmh
            and segment.incline_from_pct == segment.incline_to_pct
        ):
            raise self.fail(
                "a ramp changes speed or incline: give speed or incline as { from = ..., to = ... }"
                ' or use kind = "hold"',
                key="speed",
                segment=number,
                kind=kind,
            )
        return [segment]

    def _interval(self, number: int, raw: Mapping[str, Any], units: SpeedUnit) -> list[Segment]:
        where: dict[str, Any] = {"segment": number, "kind": "interval"}
        self._unknown_keys(
            raw,
            INTERVAL_KEYS,
            **where,
            note=" (an interval block holds repeats and [[segments.steps]]; put direction, speed,"
            " incline, duration_s and prompt in each step)"
            if any(k in raw for k in STEP_KEYS)
            else "",
        )
        if "repeats" not in raw:
            raise self.fail(
                "missing required key 'repeats' (how many times to run the steps)",
                key="repeats",
                **where,
            )
        repeats = raw["repeats"]
        if isinstance(repeats, bool) or not isinstance(repeats, int):
            raise self.fail(
                f"repeats must be a whole number, got {_describe(repeats)}", key="repeats", **where
            )
        if not 1 <= repeats <= MAX_REPEATS:
            raise self.fail(
                f"repeats must be between 1 and {MAX_REPEATS}, got {repeats}",
                key="repeats",
                **where,
            )
        if "steps" not in raw:
            raise self.fail(
                "missing required key 'steps' (one [[segments.steps]] per step)",
                key="steps",
                **where,
            )
        steps = raw["steps"]
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise self.fail(
                f"steps must be an array of tables ([[segments.steps]]), got {_describe(steps)}",
                key="steps",
                **where,
            )
        if not steps:
            raise self.fail(
                "an interval needs at least one [[segments.steps]]", key="steps", **where
            )
        template: list[Segment] = []
        for step_number, step in enumerate(steps, start=1):
            self._unknown_keys(step, STEP_KEYS, step=step_number, **where)
            template.append(
                self._walk(step, units, kind="interval", segment=number, step=step_number)
            )
        return [replace(s, repeat=r) for r in range(1, repeats + 1) for s in template]

    def _walk(
        self,
        raw: Mapping[str, Any],
        units: SpeedUnit,
        *,
        kind: SegmentKind,
        segment: int,
        step: int = 0,
    ) -> Segment:
        where: dict[str, Any] = {"segment": segment, "kind": kind, "step": step}
        for key in ("direction", "speed", "duration_s"):
            if key not in raw:
                raise self.fail(f"missing required key '{key}'", key=key, **where)
        direction = raw["direction"]
        if direction not in DIRECTIONS:
            raise self.fail(
                f'direction must be "backward" or "forward", got {_describe(direction)}',
                key="direction",
                **where,
            )
        speed_from, speed_to = self._ramp(raw["speed"], key="speed", **where)
        incline_from, incline_to = (
            self._ramp(raw["incline"], key="incline", **where) if "incline" in raw else (0.0, 0.0)
        )
        duration = raw["duration_s"]
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise self.fail(
                f"duration_s must be a whole number of seconds, got {_describe(duration)}",
                key="duration_s",
                **where,
            )
        if duration <= 0:
            raise self.fail(
                f"duration_s must be above 0 seconds, got {duration}", key="duration_s", **where
            )
        if duration > MAX_SEGMENT_S:
            raise self.fail(
                f"duration_s {duration} s is longer than a segment may be: at most "
                f"{MAX_SEGMENT_S} s ({MAX_SEGMENT_S // 3600} h)",
                key="duration_s",
                **where,
            )
        prompt = raw.get("prompt", "")
        if not isinstance(prompt, str):
            raise self.fail(
                f"prompt must be a string, got {_describe(prompt)}", key="prompt", **where
            )
        self._no_control(prompt, key="prompt", **where)
        return Segment(
            kind=kind,
            direction="backward" if direction == "backward" else "forward",
            speed_from_kmh=to_kmh(speed_from, units),
            speed_to_kmh=to_kmh(speed_to, units),
            incline_from_pct=incline_from,
            incline_to_pct=incline_to,
            duration_s=float(duration),
            prompt=prompt.strip(),
            source_index=segment,
            step=step,
        )

    def _ramp(self, value: object, *, key: str, **where: Any) -> tuple[float, float]:
        if isinstance(value, dict):
            self._unknown_keys(value, RAMP_KEYS, at=key, **where)
            for end in RAMP_KEYS:
                if end not in value:
                    raise self.fail(
                        f"{key} ramp is missing '{end}': write {key} = {{ from = ..., to = ... }}",
                        key=key,
                        **where,
                    )
            return (
                self._number(value["from"], key=f"{key}.from", **where),
                self._number(value["to"], key=f"{key}.to", **where),
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(
                f"{key} must be a number or {{ from = ..., to = ... }}, got {_describe(value)}",
                key=key,
                **where,
            )
        number = self._number(value, key=key, **where)
        return number, number


class _Checker:
    """Checks a built profile's values against the caps in force (the lowest wins)."""

    def __init__(
        self,
        profile: Profile,
        limits: SafetyLimits,
        device: DeviceRange | None,
        locate: Locator | None,
    ) -> None:
        self.profile = profile
        self.limits = limits
        self.device = device
        self.locate = locate
        self.units: SpeedUnit = profile.units

    def speed(self, kmh: float) -> str:
        return f"{_fmt_speed(from_kmh(kmh, self.units))} {unit_label(self.units)}"

    def fail(self, segment: Segment, key: str, message: str, hint: str = "") -> ConfigError:
        where = f"segment {segment.source_index} '{segment.kind}'"
        if segment.step:
            where += f" step {segment.step}"
        if self.locate is not None:
            line = self.locate(segment.source_index, segment.step, key)
            if line is not None:
                message += f" (line {line})"
        if hint:
            message += f"; {hint}"
        field_path = f"segments[{segment.source_index}]"
        if segment.step:
            field_path += f".steps[{segment.step}]"
        return ConfigError(
            message, path=self.profile.source, where=where, field=f"{field_path}.{key}"
        )

    def check(self) -> None:
        previous: Segment | None = None
        for segment in self.profile.segments:
            self._speed(segment)
            if previous is None or previous.direction != segment.direction:
                self._start(segment, turned=previous is not None)
            self._incline(segment)
            self._rates(segment)
            previous = segment

    def _speed_key(self, name: str) -> str:
        return f"{name}_{'mph' if self.units == 'mph' else 'kmh'}"

    @staticmethod
    def _clinic(key: str, value: str, cap: float, default: float, needs_allow: bool) -> _Cap:
        """A clinic/default cap: where it comes from and which config key would allow ``value``."""
        if abs(cap - default) <= _EPS:
            source = "the built-in default"
        else:
            source = f"the clinic config's [safety] {key}"
        if needs_allow:
            hint = (
                f"to allow it, the clinic config needs {ALLOW_KEY} = true and {key} = {value} "
                "in its [safety] table"
            )
        elif abs(cap - default) > _EPS:
            hint = f"the clinic config's [safety] {key} sets this cap"
        else:
            hint = ""
        return _Cap(cap, source, hint)

    def _speed(self, segment: Segment) -> None:
        limits, device, own = self.limits, self.device, self.profile.limits
        low = segment.min_speed_kmh
        floors = [_Cap(limits.min_running_speed_kmh, "the minimum running speed")]
        if device is not None:
            floors.append(_Cap(device.min_speed_kmh, "the treadmill's minimum"))
        floor = max(floors, key=lambda c: c.value)
        if low < floor.value - _EPS:
            raise self.fail(
                segment,
                "speed",
                f"speed {self.speed(low)} is below {floor.source} {self.speed(floor.value)}",
                "a profile never stands the belt still (the session inserts the stops between "
                "directions)",
            )
        high = segment.max_speed_kmh
        key = self._speed_key("max_speed")
        caps = [
            self._clinic(
                key,
                _fmt_speed(from_kmh(high, self.units)),
                limits.max_speed_kmh,
                DEFAULT_LIMITS.max_speed_kmh,
                high > DEFAULT_LIMITS.max_speed_kmh + _EPS,
            )
        ]
        if device is not None:
            caps.append(_Cap(device.max_speed_kmh, "the treadmill's maximum"))
        if own.max_speed_kmh is not None:
            caps.append(_Cap(own.max_speed_kmh, "the profile's [limits] max_speed"))
        cap = min(caps, key=lambda c: c.value)
        if high > cap.value + _EPS:
            raise self.fail(
                segment,
                "speed",
                f"speed {self.speed(high)} exceeds the cap {self.speed(cap.value)} ({cap.source})",
                cap.hint,
            )

    def _start(self, segment: Segment, *, turned: bool) -> None:
        start = segment.speed_from_kmh
        cap = self._clinic(
            self._speed_key("max_start_speed"),
            _fmt_speed(from_kmh(start, self.units)),
            self.limits.max_start_speed_kmh,
            DEFAULT_LIMITS.max_start_speed_kmh,
            start > DEFAULT_LIMITS.max_start_speed_kmh + _EPS,
        )
        if start <= cap.value + _EPS:
            return
        when = "after turning around (a full stop)" if turned else "at the start of the session"
        if segment.repeat > 1:
            when += f" in repeat {segment.repeat}"
        raise self.fail(
            segment,
            "speed",
            f"speed starts at {self.speed(start)} {when}, above the start-speed cap "
            f"{self.speed(cap.value)} ({cap.source})",
            cap.hint or f"begin this segment at or below {self.speed(cap.value)}",
        )

    def _incline(self, segment: Segment) -> None:
        limits, device, own = self.limits, self.device, self.profile.limits
        high = segment.max_incline_pct
        caps = [
            self._clinic(
                "max_incline_pct",
                _fmt(high),
                limits.max_incline_pct,
                DEFAULT_LIMITS.max_incline_pct,
                high > DEFAULT_LIMITS.max_incline_pct + _EPS,
            )
        ]
        if device is not None and device.max_incline_pct is not None:
            caps.append(_Cap(device.max_incline_pct, "the treadmill's maximum"))
        if own.max_incline_pct is not None:
            caps.append(_Cap(own.max_incline_pct, "the profile's [limits] max_incline"))
        cap = min(caps, key=lambda c: c.value)
        if high > cap.value + _EPS:
            raise self.fail(
                segment,
                "incline",
                f"incline {_fmt(high)} % exceeds the cap {_fmt(cap.value)} % ({cap.source})",
                cap.hint,
            )
        low = segment.min_incline_pct
        floors = [
            self._clinic(
                "min_incline_pct",
                _fmt(low),
                limits.min_incline_pct,
                DEFAULT_LIMITS.min_incline_pct,
                low < DEFAULT_LIMITS.min_incline_pct - _EPS,
            )
        ]
        if device is not None and device.min_incline_pct is not None:
            floors.append(_Cap(device.min_incline_pct, "the treadmill's minimum"))
        floor = max(floors, key=lambda c: c.value)
        if low < floor.value - _EPS:
            raise self.fail(
                segment,
                "incline",
                f"incline {_fmt(low)} % is below the lowest allowed {_fmt(floor.value)} % "
                f"({floor.source})",
                floor.hint,
            )

    def _rates(self, segment: Segment) -> None:
        limits = self.limits
        rise = segment.speed_to_kmh - segment.speed_from_kmh
        window = limits.speed_increase_window_s
        if rise > _EPS and rise / segment.duration_s * window > limits.speed_increase_kmh + _EPS:
            needed = math.ceil(rise / limits.speed_increase_kmh * window - _EPS)
            raise self.fail(
                segment,
                "duration_s",
                f"speed ramp {self.speed(segment.speed_from_kmh)} -> "
                f"{self.speed(segment.speed_to_kmh)} in {_fmt(segment.duration_s)} s is steeper "
                f"than the rate limit {self.speed(limits.speed_increase_kmh)} per {_fmt(window)} s",
                f"make duration_s at least {needed}",
            )
        change = abs(segment.incline_to_pct - segment.incline_from_pct)
        window = limits.incline_change_window_s
        if (
            change > _EPS
            and change / segment.duration_s * window > limits.incline_change_pct + _EPS
        ):
            needed = math.ceil(change / limits.incline_change_pct * window - _EPS)
            raise self.fail(
                segment,
                "duration_s",
                f"incline ramp {_fmt(segment.incline_from_pct)} -> {_fmt(segment.incline_to_pct)} %"
                f" in {_fmt(segment.duration_s)} s is steeper than the rate limit "
                f"{_fmt(limits.incline_change_pct)} % per {_fmt(window)} s",
                f"make duration_s at least {needed}",
            )


@dataclass(frozen=True, slots=True)
class _Cap:
    """One cap or floor in force, where it comes from, and what would allow more (messages)."""

    value: float
    source: str
    hint: str = ""


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\" -]+?)\s*\]\]?")


def _text_locator(text: str) -> Locator:
    """A best-effort map from (segment, step, key) to the line where the key is written.

    Follows ``[[segments]]``, ``[[segments.steps]]`` and ``[limits]`` headers; inline tables are
    not followed (the message then has no line).
    """
    lines = text.splitlines()

    def locate(segment: int, step: int, key: str) -> int | None:
        table = ""
        if "." in key and not segment:
            table, key = key.split(".", 1)
        key = key.split(".", 1)[0]
        seg = stp = 0
        current = ""
        key_re = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=") if key else None
        for number, line in enumerate(lines, start=1):
            header = _HEADER_RE.match(line)
            if header:
                name = header.group(2).replace(" ", "").replace('"', "")
                if header.group(1) == "[[" and name == "segments":
                    seg, stp, current = seg + 1, 0, "segment"
                elif header.group(1) == "[[" and name == "segments.steps":
                    stp, current = stp + 1, "step"
                else:
                    current = name
                if not segment and not table and key and name.split(".")[0] == key:
                    return number
                if segment and seg == segment and stp == step and not key:
                    return number
                continue
            if key_re is None or not key_re.match(line):
                continue
            if segment:
                wanted = "step" if step else "segment"
                if current == wanted and seg == segment and stp == step:
                    return number
            elif table:
                if current == table:
                    return number
            elif current == "":
                return number
        return None

    return locate


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int | float):
        return _fmt(float(value))
    return type(value).__name__


def _fmt_speed(value: float) -> str:
    """A speed with at least one decimal: ``1.0``, ``1.25``."""
    text = _fmt(value)
    return text if "." in text else f"{text}.0"


def _fmt(value: float) -> str:
    """A number as a person writes it: ``1.5``, ``2``, ``2.41``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _lerp(start: float, end: float, elapsed: float, duration: float) -> float:
    if duration <= 0 or elapsed >= duration:
        return end
    if elapsed <= 0:
        return start
    return start + (end - start) * (elapsed / duration)


__all__ = [
    "ALLOW_KEY",
    "DIRECTIONS",
    "INTERVAL_KEYS",
    "LIMIT_KEYS",
    "MAX_PROFILE_S",
    "MAX_REPEATS",
    "MAX_SEGMENTS",
    "MAX_SEGMENT_S",
    "RAMP_KEYS",
    "SEGMENT_KEYS",
    "SEGMENT_KINDS",
    "STEP_KEYS",
    "TOP_KEYS",
    "DeviceRange",
    "Direction",
    "Locator",
    "Profile",
    "ProfileLimits",
    "Segment",
    "SegmentKind",
    "check_profile",
    "parse_profile",
]
