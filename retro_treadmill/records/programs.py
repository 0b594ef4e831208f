"""Rehab programs: an ordered list of stages (a profile and a number of sessions) and the rule
that moves a walker from one stage to the next (pure; sans-IO, import-linter checks it).

:func:`parse_program` takes a program file's text and returns a validated :class:`Program` or
raises :class:`retro_treadmill.errors.ConfigError` naming the file, the stage, the key and the
line, like profile errors. Finding files and checking that each stage's profile exists is
:mod:`retro_treadmill.programs`' job; the progression rule is
:mod:`retro_treadmill.records.progression`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retro_treadmill.errors import ConfigError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TOP_KEYS = ("name", "description", "audience", "progression", "stages")
PROGRESSION_KEYS = ("max_pain", "pain_rise")
STAGE_KEYS = ("name", "profile", "sessions")
DEFAULT_MAX_PAIN = 3
DEFAULT_PAIN_RISE = 2


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage: ``sessions`` sessions of ``profile``."""

    name: str
    """How the stage is called to people, e.g. ``week 3``."""
    profile: str
    """A profile name (or a path relative to the program's folder)."""
    sessions: int


@dataclass(frozen=True, slots=True)
class ProgressionRule:
    """When a walker moves on.

    - Advance after :attr:`Stage.sessions` sessions at the stage that were completed, whose pain
      rating was at most ``max_pain`` (0-10 numeric rating scale) and that had no safety alarm.
    - Repeat the stage (its count starts again) when the pain rating rose by ``pain_rise`` or
      more since the previous session of the program.
    - Step back one stage after a session with a safety alarm.
    """

    max_pain: int = DEFAULT_MAX_PAIN
    pain_rise: int = DEFAULT_PAIN_RISE


@dataclass(frozen=True, slots=True)
class Program:
    """A validated rehab program."""

    name: str
    description: str
    audience: str
    stages: tuple[Stage, ...]
    rule: ProgressionRule = ProgressionRule()
    source: str = ""

    @property
    def summary(self) -> str:
        """The description's first line."""
        return self.description.strip().splitlines()[0] if self.description.strip() else ""

    @property
    def total_sessions(self) -> int:
        """Sessions from the first stage to the end when nothing is repeated."""
        return sum(s.sessions for s in self.stages)


def parse_program(text: str, path: str = "<program>") -> Program:
    """Validate a program file's text; ``path`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    return _Parser(text, path).build(data)


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, message: str, key: str = "", stage: int = 0, table: str = "") -> ConfigError:
        line = self._line(key, stage, table)
        if line is not None:
            message += f" (line {line})"
        where = f"stage {stage}" if stage else (f"[{table}]" if table else "")
        return ConfigError(message, path=self.path, where=where, field=key)

    def _line(self, key: str, stage: int, table: str) -> int | None:
        """The line of ``key`` in the ``stage``-th ``[[stages]]`` (or in ``[table]``, or at the
        top level when both are empty); the header's line when the key is not there."""
        current_stage = 0
        current_table = ""
        header_line: int | None = None
        key_re = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=") if key else None
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if stripped.startswith("[[stages]]"):
                current_stage += 1
                current_table = "stages"
                if stage and current_stage == stage:
                    header_line = number
                continue
            if stripped.startswith("["):
                current_table = stripped.strip("[] ")
                if table and current_table == table:
                    header_line = number
                continue
            in_place = (
                (stage and current_table == "stages" and current_stage == stage)
                or (table and current_table == table)
                or (not stage and not table and current_table == "")
            )
            if in_place and key_re is not None and key_re.match(line):
                return number
        return header_line

    def unknown(self, data: Mapping[str, Any], allowed: tuple[str, ...], **where: Any) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(allowed)
                raise self.fail(f"unknown key '{key}'; {hint}", key, **where)

    def text(self, data: Mapping[str, Any], key: str, **where: Any) -> str:
        if key not in data:
            raise self.fail(f"missing required key '{key}'", key, **where)
        value = data[key]
        if not isinstance(value, str):
            raise self.fail(f"{key} must be a string, got {value!r}", key, **where)
        if not value.strip():
            raise self.fail(f"{key} must not be empty", key, **where)
        return value

    def whole(self, data: Mapping[str, Any], key: str, low: int, high: int, **where: Any) -> int:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{key} must be a whole number, got {value!r}", key, **where)
        if not low <= value <= high:
            raise self.fail(f"{key} must be between {low} and {high}, got {value}", key, **where)
        return value

    def build(self, data: Mapping[str, Any]) -> Program:
        if not data:
            raise self.fail("the file is empty; a program needs name, description and [[stages]]")
        self.unknown(data, TOP_KEYS)
        name = self.text(data, "name")
        if not NAME_RE.match(name):
            raise self.fail(
                f"name {name!r} must be lowercase letters, digits and '-' (the file's name)",
                "name",
            )
        description = self.text(data, "description")
        audience = self.text(data, "audience")
        rule = self._rule(data.get("progression", {}))
        raw_stages = data.get("stages")
        if raw_stages is None:
            raise self.fail("missing [[stages]]: a program needs at least one stage", "stages")
        if not isinstance(raw_stages, list) or not all(isinstance(s, dict) for s in raw_stages):
            raise self.fail("stages must be [[stages]] tables", "stages")
        if not raw_stages:
            raise self.fail("a program needs at least one stage", "stages")
        stages = tuple(self._stage(i, s) for i, s in enumerate(raw_stages, start=1))
        return Program(name, description, audience, stages, rule, self.path)

    def _rule(self, raw: object) -> ProgressionRule:
        if not isinstance(raw, dict):
            raise self.fail("progression must be a table ([progression])", "progression")
        self.unknown(raw, PROGRESSION_KEYS, table="progression")
        max_pain = DEFAULT_MAX_PAIN
        pain_rise = DEFAULT_PAIN_RISE
        if "max_pain" in raw:
            max_pain = self.whole(raw, "max_pain", 0, 10, table="progression")
        if "pain_rise" in raw:
            pain_rise = self.whole(raw, "pain_rise", 1, 10, table="progression")
        return ProgressionRule(max_pain=max_pain, pain_rise=pain_rise)

    def _stage(self, number: int, raw: Mapping[str, Any]) -> Stage:
        self.unknown(raw, STAGE_KEYS, stage=number)
        name = self.text(raw, "name", stage=number)
        profile = self.text(raw, "profile", stage=number)
        if "sessions" not in raw:
            raise self.fail("missing required key 'sessions'", "sessions", stage=number)
        sessions = self.whole(raw, "sessions", 1, 100, stage=number)
        return Stage(name=name, profile=profile, sessions=sessions)


__all__ = [
    "DEFAULT_MAX_PAIN",
    "DEFAULT_PAIN_RISE",
    "Program",
    "ProgressionRule",
    "Stage",
    "parse_program",
]
