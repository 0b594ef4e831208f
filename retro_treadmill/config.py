"""The clinic config: one TOML file with clinic safety caps, per-device quirks and MQTT settings.

Where it is read from, first match wins: ``--config PATH``; the ``RETRO_TREADMILL_CONFIG``
environment variable; ``config.toml`` in the platformdirs user config directory (on Linux
``~/.config/retro-treadmill/config.toml``). No file there means DESIGN's safety defaults.

The ``[safety]`` table may tighten any limit it names. Loosening a cap beyond DESIGN's default
(a higher speed, start speed or incline, or a decline) needs ``allow_above_default_caps = true``
in the same table as well as the new value; the other limits (rate limits, timeouts, minimum
running speed, countdown, the heart-rate limit ``max_heart_rate_bpm`` and hold
``hr_hold_above_bpm``, none by default, and the heart-rate-lost times ``hr_lost_after_s``,
``hr_slow_after_s``, ``hr_stop_after_s``) can only be tightened. Nothing else can loosen a limit.
``require_spotter = true`` in ``[safety]`` makes the preflight's spotter item compulsory for
every walker (by default only a screening "yes" does).

Errors are :class:`retro_treadmill.errors.ConfigError` naming the file, the table and key, and the
line where it can be found. Paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import platformdirs

from retro_treadmill.errors import ConfigError
from retro_treadmill.ftms.quirks import load_quirks_table, merge_overrides
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.session.profile import ALLOW_KEY
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.units import kmh_to_mph, mph_to_kmh

APP_NAME = "retro-treadmill"
CONFIG_FILENAME = "config.toml"
CONFIG_ENV = "RETRO_TREADMILL_CONFIG"
"""Environment variable naming the clinic config file (``--config`` wins over it)."""

TOP_TABLES = ("safety", "quirks", "mqtt", "profiles")
SPOTTER_KEY = "require_spotter"
"""``[safety] require_spotter = true`` makes the preflight's spotter item compulsory for all."""

Strict = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class SafetyKey:
    """One ``[safety]`` key: the :class:`SafetyLimits` field it sets and how."""

    field: str
    unit: Literal["mph", "kmh", ""]
    stricter: Strict
    """``"lower"``: a smaller value is safer (caps, timeouts); ``"higher"``: a larger one is."""
    loosenable: bool
    """Whether ``allow_above_default_caps = true`` lets it go beyond DESIGN's default."""
    positive: bool = True


def _speed_keys(
    stem: str, field_name: str, stricter: Strict, loosenable: bool
) -> dict[str, SafetyKey]:
    return {
        f"{stem}_mph": SafetyKey(field_name, "mph", stricter, loosenable),
        f"{stem}_kmh": SafetyKey(field_name, "kmh", stricter, loosenable),
    }


SAFETY_KEYS: Mapping[str, SafetyKey] = MappingProxyType(
    {
        **_speed_keys("max_speed", "max_speed_kmh", "lower", True),
        **_speed_keys("max_start_speed", "max_start_speed_kmh", "lower", True),
        "max_incline_pct": SafetyKey("max_incline_pct", "", "lower", True, positive=False),
        "min_incline_pct": SafetyKey("min_incline_pct", "", "higher", True, positive=False),
        **_speed_keys("min_running_speed", "min_running_speed_kmh", "higher", False),
        **_speed_keys("speed_increase", "speed_increase_kmh", "lower", False),
        "incline_change_pct": SafetyKey("incline_change_pct", "", "lower", False),
        **_speed_keys("overspeed_margin", "overspeed_margin_kmh", "lower", False),
        "setpoint_timeout_s": SafetyKey("setpoint_timeout_s", "", "lower", False),
        "telemetry_timeout_s": SafetyKey("telemetry_timeout_s", "", "lower", False),
        "stop_confirm_timeout_s": SafetyKey("stop_confirm_timeout_s", "", "lower", False),
        "countdown_s": SafetyKey("countdown_s", "", "higher", False),
        # No limit by default (infinite): any value is a tightening.
        "max_heart_rate_bpm": SafetyKey("max_heart_rate_bpm", "", "lower", False),
        "hr_hold_above_bpm": SafetyKey("hr_hold_above_bpm", "", "lower", False),
        "hr_lost_after_s": SafetyKey("hr_lost_after_s", "", "lower", False),
        "hr_slow_after_s": SafetyKey("hr_slow_after_s", "", "lower", False),
        "hr_stop_after_s": SafetyKey("hr_stop_after_s", "", "lower", False),
    }
)
"""Every key the ``[safety]`` table accepts besides ``allow_above_default_caps``."""

SANITY_BOUNDS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "max_speed_kmh": (0.0, mph_to_kmh(10.0)),
        "max_start_speed_kmh": (0.0, mph_to_kmh(10.0)),
        "max_incline_pct": (0.0, 15.0),
        "min_incline_pct": (-6.0, 15.0),
        "countdown_s": (0.0, 60.0),
        "max_heart_rate_bpm": (30.0, 250.0),
        "hr_hold_above_bpm": (30.0, 250.0),
    }
)
"""Bounds no config may leave even with ``allow_above_default_caps`` (they catch typos such as
``max_speed_mph = 15`` for 1.5): at most 10 mph, 15 % incline, a 6 % decline, 60 s countdown,
a heart-rate limit or hold between 30 and 250 bpm."""

MQTT_KEYS: Mapping[str, type | tuple[type, ...]] = MappingProxyType(
    {
        "url": str,
        "treadmill_id": str,
        "username": str,
        "password": str,
        "discovery": bool,
        "discovery_prefix": str,
        "ca_file": str,
        "cert_file": str,
        "key_file": str,
        "remote_stop": bool,
        "remote_pause": bool,
        "telemetry_rate_hz": (int, float),
        "event_queue_size": int,
        "telemetry_queue_size": int,
        "keepalive_s": int,
        "connect_timeout_s": (int, float),
        "reconnect_min_s": (int, float),
        "reconnect_max_s": (int, float),
    }
)
"""Keys of the ``[mqtt]`` table: ``url`` and ``treadmill_id`` plus the options of
:class:`retro_treadmill.telemetry.settings.MqttSettings` (same names)."""
MQTT_PATH_KEYS = ("ca_file", "cert_file", "key_file")
PROFILE_KEYS = ("dirs",)


@dataclass(frozen=True, slots=True)
class ClinicConfig:
    """A loaded clinic config. ``limits`` are the effective safety limits (DESIGN's defaults,
    tightened by the clinic's caps and loosened only where the file explicitly allows it)."""

    path: Path | None = None
    limits: SafetyLimits = DEFAULT_LIMITS
    loosened: frozenset[str] = frozenset()
    """SafetyLimits fields set beyond DESIGN's default (with ``allow_above_default_caps``)."""
    quirks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """``[quirks."NAME PREFIX"]`` tables, passed as they are to the FTMS client's quirk table
    (:func:`retro_treadmill.ftms.quirks.merge_overrides`); ``"*"`` overrides every device."""
    mqtt: Mapping[str, Any] = field(default_factory=dict)
    """The ``[mqtt]`` table, types checked and TLS file paths made absolute."""
    profile_dirs: tuple[Path, ...] = ()
    """Folders with the clinic's own profiles (``[profiles] dirs``), searched after the shipped."""
    require_spotter: bool = False
    """``[safety] require_spotter = true``: the preflight's spotter item is compulsory for every
    walker, whatever the screening answered."""

    @property
    def source(self) -> str:
        """The file this came from, for messages (``"built-in defaults"`` when none)."""
        return str(self.path) if self.path is not None else "built-in defaults"

    def mqtt_options(self) -> dict[str, Any]:
        """The ``[mqtt]`` options other than ``url`` and ``treadmill_id``, as keyword arguments
        for ``MqttSettings.from_url(url, treadmill_id=..., **options)``."""
        options = {k: v for k, v in self.mqtt.items() if k not in ("url", "treadmill_id")}
        for key in MQTT_PATH_KEYS:
            if key in options:
                options[key] = Path(options[key])
        return options


def default_config_path() -> Path:
    """``config.toml`` in the platformdirs user config directory."""
    return platformdirs.user_config_path(APP_NAME) / CONFIG_FILENAME


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The config file to read and whether it was asked for explicitly (``--config`` or the
    environment variable); a missing explicit file is an error, a missing default one is not."""
    if explicit is not None:
        return Path(explicit), True
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env), True
    return default_config_path(), False


def load_config(explicit: str | os.PathLike[str] | None = None) -> ClinicConfig:
    """Read and validate the clinic config (see the module docstring for where it is found)."""
    path, required = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(
                "no such config file; create it or leave out --config (and "
                f"{CONFIG_ENV}) to use the built-in safety defaults",
                path=str(path),
            ) from None
        return ClinicConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file: {exc}", path=str(path)) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path | str = "<config>") -> ClinicConfig:
    """Validate a clinic config's text; ``path`` names it in messages and anchors relative paths."""
    return _ConfigParser(text, Path(path)).parse()


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The shared ``--config PATH`` option of every subcommand that reads the clinic config."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help=f"clinic config file (default: ${CONFIG_ENV} or {default_config_path()})",
    )


class _ConfigParser:
    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.path = path
        self.lines = text.splitlines()

    def fail(self, message: str, table: str = "", key: str = "") -> ConfigError:
        line = self._line(table, key)
        if line is not None:
            message += f" (line {line})"
        where = f"[{table}]" if table else ""
        name = f"{table}.{key}" if table and key else table or key
        return ConfigError(message, path=str(self.path), where=where, field=name)

    def _line(self, table: str, key: str) -> int | None:
        current = ""
        header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
        key_re = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=") if key else None
        for number, line in enumerate(self.lines, start=1):
            match = header.match(line)
            if match:
                current = match.group(1).replace('"', "").replace(" ", "")
                if key_re is None and current == table:
                    return number
                if not table and current.split(".")[0] == key:
                    return number
                continue
            if key_re is not None and current == table and key_re.match(line):
                return number
        return None

    def unknown(self, table: Mapping[str, Any], allowed: tuple[str, ...], name: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(allowed)
                raise self.fail(f"unknown key '{key}'; {hint}", name, key)

    def parse(self) -> ClinicConfig:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=str(self.path)) from None
        for key, value in data.items():
            if key not in TOP_TABLES:
                close = difflib.get_close_matches(key, TOP_TABLES, n=1, cutoff=0.6)
                hint = (
                    f"did you mean [{close[0]}]?"
                    if close
                    else "known: " + ", ".join(f"[{t}]" for t in TOP_TABLES)
                )
                raise self.fail(f"unknown table or key '{key}'; {hint}", "", key)
            if not isinstance(value, dict):
                raise self.fail(f"'{key}' must be a table ([{key}])", "", key)
        safety = dict(data.get("safety", {}))
        require_spotter = safety.pop(SPOTTER_KEY, False)
        if not isinstance(require_spotter, bool):
            raise self.fail(f"{SPOTTER_KEY} must be true or false", "safety", SPOTTER_KEY)
        limits, loosened = self._safety(safety)
        return ClinicConfig(
            path=self.path,
            limits=limits,
            loosened=loosened,
            require_spotter=require_spotter,
            quirks=self._quirks(
                data.get("quirks", {}), allow=data.get("safety", {}).get(ALLOW_KEY) is True
            ),
            mqtt=self._mqtt(data.get("mqtt", {})),
            profile_dirs=self._profiles(data.get("profiles", {})),
        )

    def _safety(self, table: Mapping[str, Any]) -> tuple[SafetyLimits, frozenset[str]]:
        self.unknown(table, (ALLOW_KEY, SPOTTER_KEY, *SAFETY_KEYS), "safety")
        allow = table.get(ALLOW_KEY, False)
        if not isinstance(allow, bool):
            raise self.fail(f"{ALLOW_KEY} must be true or false", "safety", ALLOW_KEY)
        values: dict[str, Any] = {}
        seen: dict[str, str] = {}
        loosened: set[str] = set()
        for key, raw in table.items():
            if key == ALLOW_KEY:
                continue
            spec = SAFETY_KEYS[key]
            if spec.field in seen:
                raise self.fail(
                    f"'{key}' and '{seen[spec.field]}' set the same limit; keep one",
                    "safety",
                    key,
                )
            seen[spec.field] = key
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise self.fail(f"{key} must be a finite number, got {raw!r}", "safety", key)
            value = mph_to_kmh(float(raw)) if spec.unit == "mph" else float(raw)
            if spec.positive and value <= 0:
                raise self.fail(f"{key} must be above 0, got {raw}", "safety", key)
            low, high = SANITY_BOUNDS.get(spec.field, (-math.inf, math.inf))
            if not low <= value <= high:
                raise self.fail(
                    f"{key} = {raw} is outside the sane range for this setting; check for a typo",
                    "safety",
                    key,
                )
            default = float(getattr(DEFAULT_LIMITS, spec.field))
            looser = value > default + 1e-9 if spec.stricter == "lower" else value < default - 1e-9
            if looser:
                shown = _default_shown(spec, default)
                if not spec.loosenable:
                    raise self.fail(
                        f"{key} = {raw} is less strict than the built-in default {shown}; this "
                        "limit can only be tightened",
                        "safety",
                        key,
                    )
                if not allow:
                    raise self.fail(
                        f"{key} = {raw} is beyond the built-in default {shown}; loosening a "
                        f"default needs {ALLOW_KEY} = true in [safety] as well",
                        "safety",
                        key,
                    )
                loosened.add(spec.field)
            values[spec.field] = value
        limits = dataclasses.replace(DEFAULT_LIMITS, **values)
        if limits.min_running_speed_kmh >= limits.max_speed_kmh:
            key = seen.get("min_running_speed_kmh") or seen.get("max_speed_kmh", "")
            raise self.fail(
                "the minimum running speed is not below the maximum speed: no speed is left",
                "safety",
                key,
            )
        start_cap = min(limits.max_start_speed_kmh, limits.max_speed_kmh)
        if limits.min_running_speed_kmh > start_cap + 1e-9:
            key = seen.get("min_running_speed_kmh") or seen.get("max_start_speed_kmh", "")
            raise self.fail(
                "the minimum running speed is above the start speed cap: no session could start",
                "safety",
                key,
            )
        if limits.min_incline_pct > limits.max_incline_pct:
            key = seen.get("min_incline_pct") or seen.get("max_incline_pct", "")
            raise self.fail("min_incline_pct is above max_incline_pct", "safety", key)
        if limits.hr_slow_after_s > limits.hr_stop_after_s:
            key = seen.get("hr_slow_after_s") or seen.get("hr_stop_after_s", "")
            raise self.fail(
                "hr_slow_after_s is above hr_stop_after_s: the belt must slow before it stops",
                "safety",
                key,
            )
        return limits, frozenset(loosened)

    def _quirks(
        self, table: Mapping[str, Any], *, allow: bool = False
    ) -> Mapping[str, Mapping[str, Any]]:
        for prefix, value in table.items():
            if not isinstance(value, dict):
                raise self.fail(
                    f'quirks."{prefix}" must be a table of quirk settings ([quirks."{prefix}"])',
                    "quirks",
                    prefix,
                )
            if value.get("unit_self_test") is False and not allow:
                # The units self-test is a safety rule (DESIGN): turning it off loosens safety.
                raise self.fail(
                    f"unit_self_test = false turns a safety check off: it needs {ALLOW_KEY} = "
                    "true in [safety]",
                    f"quirks.{prefix}",
                    "unit_self_test",
                )
        try:
            merge_overrides(load_quirks_table(), table, path=str(self.path))
        except ConfigError as error:
            prefix = error.where.removeprefix("quirks.")
            raise self.fail(error.detail, f"quirks.{prefix}", error.field) from None
        return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in table.items()})

    def _mqtt(self, table: Mapping[str, Any]) -> Mapping[str, Any]:
        self.unknown(table, tuple(MQTT_KEYS), "mqtt")
        result: dict[str, Any] = {}
        for key, value in table.items():
            expected = MQTT_KEYS[key]
            bad_bool = isinstance(value, bool) and expected is not bool
            if bad_bool or not isinstance(value, expected):
                kind = {bool: "true or false", str: "a string", int: "a whole number"}.get(
                    expected if isinstance(expected, type) else float, "a number"
                )
                raise self.fail(f"{key} must be {kind}, got {value!r}", "mqtt", key)
            if key in MQTT_PATH_KEYS:
                file = Path(str(value)).expanduser()
                if not file.is_absolute():
                    file = self.path.parent / file
                if not file.is_file():
                    raise self.fail(f"{key} {str(file)!r} does not exist", "mqtt", key)
                value = str(file)
            if key == "url" and not re.match(r"^mqtts?://", str(value)):
                raise self.fail(
                    f"url must start with mqtt:// or mqtts://, got {str(value).split('@')[-1]!r}",
                    "mqtt",
                    key,
                )
            result[key] = value
        if result:
            self._check_mqtt(result)
        return MappingProxyType(result)

    def _check_mqtt(self, table: Mapping[str, Any]) -> None:
        """Build the MQTT settings once so a bad combination is reported here, with its line;
        without a ``url`` (it may come from ``--mqtt`` later) on a stand-in loopback URL, so
        the other values are checked all the same."""
        options = {k: v for k, v in table.items() if k not in ("url", "treadmill_id")}
        for key in MQTT_PATH_KEYS:
            if key in options:
                options[key] = Path(options[key])
        tls = any(key in options for key in MQTT_PATH_KEYS)
        url = table.get("url") or ("mqtts://127.0.0.1" if tls else "mqtt://127.0.0.1")
        try:
            MqttSettings.from_url(
                url, treadmill_id=table.get("treadmill_id", "treadmill"), **options
            )
        except ConfigError as error:
            fallback = "url" if "url" in table else next(iter(table))
            key = error.field if error.field in table else fallback
            raise self.fail(error.detail, "mqtt", key) from None

    def _profiles(self, table: Mapping[str, Any]) -> tuple[Path, ...]:
        self.unknown(table, PROFILE_KEYS, "profiles")
        dirs = table.get("dirs", [])
        if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
            raise self.fail("dirs must be an array of folder paths", "profiles", "dirs")
        result = []
        for entry in dirs:
            folder = Path(entry).expanduser()
            if not folder.is_absolute():
                folder = self.path.parent / folder
            if not folder.is_dir():
                raise self.fail(
                    f"profile folder {str(folder)!r} does not exist", "profiles", "dirs"
                )
            result.append(folder)
        return tuple(result)


def _default_shown(spec: SafetyKey, default: float) -> str:
    """DESIGN's default for ``spec`` in the key's own unit, e.g. ``1.5 mph``."""
    if spec.unit == "mph":
        return f"{_num(kmh_to_mph(default))} mph"
    if spec.unit == "kmh":
        return f"{_num(default)} km/h"
    return _num(default)


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


__all__ = [
    "CONFIG_ENV",
    "MQTT_KEYS",
    "SAFETY_KEYS",
    "SANITY_BOUNDS",
    "ClinicConfig",
    "SafetyKey",
    "add_config_argument",
    "config_path",
    "default_config_path",
    "load_config",
    "parse_config",
]
