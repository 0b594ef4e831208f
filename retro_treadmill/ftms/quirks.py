"""Per-device quirks as data: the shipped ``quirks.toml`` table, matched by advertised name prefix.

Real FTMS treadmills differ in how they want to be driven (ftms-notes §6 "Sequencing quirks",
§3.4.6 units). Those differences live in ``quirks.toml`` beside this module, never in
``if brand == ...`` branches: the control-point machine and the client read :class:`DeviceQuirks`.
A clinic config may override any field per name prefix (:func:`merge_overrides`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from retro_treadmill.errors import ConfigError
from retro_treadmill.units import kmh_to_mph, mph_to_kmh

QUIRKS_RESOURCE = "quirks.toml"


@dataclass(frozen=True, slots=True)
class DeviceQuirks:
    """How to drive one treadmill model. Every field has the spec-conformant default."""

    name: str = "default"
    """The table entry (``"default"`` when no name prefix matched)."""
    request_control_before_each_command: bool = False
    """Send Request Control (0x00) before every Set Target / Start (Technogym MyRun, per QZ)."""
    wait_for_belt_before_speed: bool = False
    """Hold a speed change until telemetry shows the belt moving (KingSmith: a speed command
    during motor spin-up drops the link)."""
    wait_for_belt_timeout_s: float = 15.0
    """How long a held speed change waits for the belt before it fails (BELT_NOT_MOVING)."""
    settle_after_start_s: float = 0.0
    """Seconds after a successful Start before a speed change is written (Kingsmith PH4: 2.5)."""
    speed_range_in_mph: bool = False
    """The Supported Speed Range (2AD4) is really mph x 0.01 (FitShow FS-BT-T4 walking pad)."""
    target_speed_in_mph: bool = False
    """The Set Target Speed parameter is read as mph x 0.01 (JFTM T202, QZ PR #4904)."""
    reported_speed_in_mph: bool = False
    """Treadmill Data speeds are really mph x 0.01 (Bowflex T9 / FitShow, per QZ)."""
    unit_self_test: bool = True
    """Compare the settled belt speed with the first target (1.609x = unit mismatch)."""
    control_point_timeout_s: float = 3.0
    """Seconds to wait for a control-point response (ftms-notes §6: 2-5 s in practice)."""
    control_retries: int = 3
    """Request Control attempts after 0x05 / status 0xFF before a command is rejected."""
    control_backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0)
    """Waits before each Request Control retry (ph4-walkingpad PR #25: 0.5 -> 2 s)."""
    busy_retries: int = 20
    """Rewrites after ATT 0xFE Procedure Already In Progress before a write fails."""
    busy_retry_s: float = 0.05
    """Wait between such rewrites (a pre-empting Stop is rewritten at once when the pending
    procedure's response arrives)."""
    stop_retries: int = 3
    """Rewrites of a Stop that got no response in time."""
    incline_offset: float = 0.0
    """Percent the treadmill's reported inclination (Treadmill Data) reads above the real one;
    subtracted from every record (adidas T-800 reports 6 % at level, QZ #5113). May be negative."""
    speed_increment_kmh: float = 0.0
    """The treadmill's real speed step, km/h, when it reports a coarser one in 2AD4 (Urevo E1L:
    reports 0.32, moves in 0.1 mph = 0.16 km/h steps, ftms-notes); 0 = as reported."""

    def speed_param_kmh_to_wire(self, kmh: float) -> float:
        """The value to put in Set Target Speed (FTMS §4.16.2.3) for a target of ``kmh``."""
        return kmh_to_mph(kmh) if self.target_speed_in_mph else kmh

    def reported_speed_to_kmh(self, value: float) -> float:
        """A Treadmill Data speed field as km/h."""
        return mph_to_kmh(value) if self.reported_speed_in_mph else value


_FIELD_TYPES: dict[str, type] = {
    "request_control_before_each_command": bool,
    "wait_for_belt_before_speed": bool,
    "wait_for_belt_timeout_s": float,
    "settle_after_start_s": float,
    "speed_range_in_mph": bool,
    "target_speed_in_mph": bool,
    "reported_speed_in_mph": bool,
    "unit_self_test": bool,
    "control_point_timeout_s": float,
    "control_retries": int,
    "control_backoff_s": tuple,
    "busy_retries": int,
    "busy_retry_s": float,
    "stop_retries": int,
    "incline_offset": float,
    "speed_increment_kmh": float,
}

_SIGNED = frozenset({"incline_offset"})
"""Quirks that may be negative (any finite number)."""


_RANGES: dict[str, tuple[float, float]] = {
    # seconds: a 0 s response timeout turned every command (and so every session) into an alarm
    "control_point_timeout_s": (0.5, 30.0),  # ftms-notes §6: answers take 2-5 s in practice
    "wait_for_belt_timeout_s": (1.0, 120.0),
    "settle_after_start_s": (0.0, 30.0),
    "control_backoff_s": (0.05, 30.0),  # each wait
    "busy_retry_s": (0.01, 5.0),
    # counts
    "control_retries": (0, 20),
    "busy_retries": (0, 200),
    "stop_retries": (1, 10),  # a Stop that got no answer is always written again
    "speed_increment_kmh": (0.0, 1.0),
    "incline_offset": (-30.0, 30.0),  # percent; FTMS inclination spans -3276.8..3276.7
}
"""The sane range of each numeric quirk, inclusive (a clinic override outside it is refused)."""


def _in_range(key: str, value: float, where: str, path: str) -> None:
    low, high = _RANGES.get(key, (0.0, math.inf))
    if not low <= value <= high:
        unit = " s" if key.endswith("_s") else ""
        raise ConfigError(
            f"{key} must be from {low:g} to {high:g}{unit}, got {value:g}",
            path=path,
            where=where,
            field=key,
        )


def _coerce(key: str, value: Any, where: str, path: str) -> Any:
    expected = _FIELD_TYPES.get(key)
    if expected is None:
        known = ", ".join(sorted(_FIELD_TYPES))
        raise ConfigError(
            f"unknown quirk {key!r}; known quirks: {known}", path=path, where=where, field=key
        )
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false", path=path, where=where, field=key)
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be a whole number", path=path, where=where, field=key)
        _in_range(key, value, where, path)
        return value
    if key in _SIGNED:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{key} must be a finite number", path=path, where=where, field=key)
        _in_range(key, value, where, path)
        return float(value)
    if expected is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{key} must be a number", path=path, where=where, field=key)
        _in_range(key, value, where, path)
        return float(value)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(
            f"{key} must be a non-empty list of numbers", path=path, where=where, field=key
        )
    for v in value:
        _in_range(key, v, where, path)
    return tuple(float(v) for v in value)


@dataclass(frozen=True, slots=True)
class QuirksEntry:
    """One row of the quirks table: the advertised-name prefixes it matches and its settings."""

    name: str
    prefixes: tuple[str, ...]
    settings: Mapping[str, Any]
    source: str = ""


@dataclass(frozen=True, slots=True)
class QuirksTable:
    """Defaults plus entries matched by advertised name prefix (the longest prefix wins)."""

    defaults: Mapping[str, Any]
    entries: tuple[QuirksEntry, ...]

    def for_name(self, device_name: str | None) -> DeviceQuirks:
        """The quirks of a device advertising ``device_name`` (case-insensitive prefix match)."""
        best: QuirksEntry | None = None
        best_len = -1
        name = (device_name or "").casefold()
        for entry in self.entries:
            for prefix in entry.prefixes:
                if name.startswith(prefix.casefold()) and len(prefix) > best_len:
                    best, best_len = entry, len(prefix)
        settings = dict(self.defaults)
        label = "default"
        if best is not None:
            settings.update(best.settings)
            label = best.name
        return DeviceQuirks(name=label, **settings)


def parse_quirks_table(data: Mapping[str, Any], *, path: str = QUIRKS_RESOURCE) -> QuirksTable:
    """Validate a quirks document (``[defaults]`` and ``[[device]]`` tables)."""
    unknown = set(data) - {"defaults", "device"}
    if unknown:
        raise ConfigError(f"unknown top-level keys {sorted(unknown)}", path=path)
    raw_defaults = data.get("defaults", {})
    if not isinstance(raw_defaults, Mapping):
        raise ConfigError("[defaults] must be a table", path=path, where="defaults")
    defaults = {k: _coerce(k, v, "defaults", path) for k, v in raw_defaults.items()}
    entries: list[QuirksEntry] = []
    raw_entries = data.get("device", [])
    if not isinstance(raw_entries, list):
        raise ConfigError("[[device]] must be an array of tables", path=path, where="device")
    for index, raw in enumerate(raw_entries, start=1):
        where = f"device {index}"
        if not isinstance(raw, Mapping):
            raise ConfigError("must be a table", path=path, where=where)
        name = raw.get("name")
        prefixes = raw.get("name_prefix")
        if not isinstance(name, str) or not name:
            raise ConfigError("needs a name", path=path, where=where, field="name")
        if isinstance(prefixes, str):
            prefixes = [prefixes]
        if not isinstance(prefixes, list) or not all(isinstance(p, str) and p for p in prefixes):
            raise ConfigError(
                "name_prefix must be a string or a list of strings",
                path=path,
                where=f"{where} ({name})",
                field="name_prefix",
            )
        source = raw.get("source", "")
        settings = {
            k: _coerce(k, v, f"{where} ({name})", path)
            for k, v in raw.items()
            if k not in ("name", "name_prefix", "source")
        }
        entries.append(QuirksEntry(name, tuple(prefixes), settings, str(source)))
    return QuirksTable(defaults, tuple(entries))


def load_quirks_table() -> QuirksTable:
    """The quirks table shipped with the package (``retro_treadmill/ftms/quirks.toml``)."""
    text = resources.files(__package__).joinpath(QUIRKS_RESOURCE).read_text(encoding="utf-8")
    return parse_quirks_table(tomllib.loads(text))


def merge_overrides(
    table: QuirksTable, overrides: Mapping[str, Mapping[str, Any]], *, path: str = "config"
) -> QuirksTable:
    """``table`` with per-prefix overrides (e.g. a clinic config's ``[quirks."URTM"]`` tables).

    Each key of ``overrides`` is a name prefix; ``"*"`` overrides the defaults. An override for
    a prefix the table already has is merged into that entry; a new prefix becomes a new entry
    (and, being matched by longest prefix, may refine an existing one).
    """
    defaults = dict(table.defaults)
    entries = list(table.entries)
    for prefix, settings in overrides.items():
        where = f"quirks.{prefix}"
        if not isinstance(settings, Mapping):
            raise ConfigError("must be a table of quirk settings", path=path, where=where)
        checked = {k: _coerce(k, v, where, path) for k, v in settings.items()}
        if prefix == "*":
            defaults.update(checked)
            continue
        for i, entry in enumerate(entries):
            if prefix in entry.prefixes:
                entries[i] = dataclasses.replace(
                    entry,
                    prefixes=(prefix,),
                    settings={**entry.settings, **checked},
                    source=f"{entry.source} + {path}",
                )
                if len(entry.prefixes) > 1:
                    rest = tuple(p for p in entry.prefixes if p != prefix)
                    entries.append(dataclasses.replace(entry, prefixes=rest))
                break
        else:
            entries.append(QuirksEntry(f"override {prefix}", (prefix,), checked, path))
    return QuirksTable(defaults, tuple(entries))


__all__ = [
    "DeviceQuirks",
    "QuirksEntry",
    "QuirksTable",
    "load_quirks_table",
    "merge_overrides",
    "parse_quirks_table",
]
