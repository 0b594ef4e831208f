"""Finding and reading profile files (the IO shell around :mod:`retro_treadmill.session.profile`).

Shipped profiles live in the repository's top-level ``profiles/`` folder; an installed wheel
carries them as ``retro_treadmill/_profiles`` (pyproject's force-include). A clinic adds its own
folders with ``[profiles] dirs`` in the clinic config. ``NAME`` means a profile's ``name`` (which is
also its file name without ``.toml``); anything with a ``/`` or ending in ``.toml`` is a path.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from retro_treadmill.config import ClinicConfig
from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.session.profile import DeviceRange, Profile, parse_profile

PROFILE_SUFFIX = ".toml"

PERMISSIVE_LIMITS = SafetyLimits(
    max_speed_kmh=math.inf,
    min_running_speed_kmh=0.0,
    max_start_speed_kmh=math.inf,
    max_incline_pct=math.inf,
    min_incline_pct=-math.inf,
    speed_increase_kmh=math.inf,
    incline_change_pct=math.inf,
)
"""Limits that let every well-formed profile through: only for listing and showing profiles
(never for running them), so a profile the clinic does not allow can still be described."""


def shipped_profiles_dir() -> Path:
    """The folder of the profiles shipped with retro-treadmill."""
    package = Path(__file__).resolve().parent
    installed = package / "_profiles"
    if installed.is_dir():
        return installed
    return package.parent / "profiles"


def profile_dirs(config: ClinicConfig | None = None) -> tuple[Path, ...]:
    """Where named profiles are looked up, in order: the shipped folder, then the clinic's."""
    extra = config.profile_dirs if config is not None else ()
    return (shipped_profiles_dir(), *extra)


def profile_paths(config: ClinicConfig | None = None) -> list[Path]:
    """Every ``*.toml`` profile file in :func:`profile_dirs`, sorted by name within a folder."""
    paths: list[Path] = []
    for folder in profile_dirs(config):
        if folder.is_dir():
            paths.extend(sorted(folder.glob(f"*{PROFILE_SUFFIX}")))
    return paths


def display_path(path: Path) -> str:
    """``path`` as messages show it: relative to the current folder when inside it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except (OSError, ValueError):
        return str(path)


def resolve_profile(name_or_path: str, config: ClinicConfig | None = None) -> Path:
    """The file for ``--profile NAME|PATH``; :class:`ConfigError` listing the known names when
    there is none."""
    if "/" in name_or_path or os.sep in name_or_path or name_or_path.endswith(PROFILE_SUFFIX):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError("no such profile file", path=name_or_path)
        return path
    for folder in profile_dirs(config):
        candidate = folder / f"{name_or_path}{PROFILE_SUFFIX}"
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in profile_paths(config)) or "none"
    raise ConfigError(
        f"no profile named {name_or_path!r}; known profiles: {known} "
        "(or give the path of a .toml file)"
    )


def read_profile(
    path: Path,
    *,
    limits: SafetyLimits = DEFAULT_LIMITS,
    device: DeviceRange | None = None,
) -> Profile:
    """Read and validate one profile file against the effective ``limits`` (and ``device``)."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such profile file", path=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the profile: {exc}", path=shown) from None
    return parse_profile(text, shown, limits=limits, device=device)


def load_profile(
    name_or_path: str,
    config: ClinicConfig | None = None,
    *,
    device: DeviceRange | None = None,
) -> Profile:
    """The profile for ``--profile NAME|PATH``, validated against the clinic config's effective
    limits (DESIGN's defaults without one) and ``device`` when known."""
    limits = config.limits if config is not None else DEFAULT_LIMITS
    return read_profile(resolve_profile(name_or_path, config), limits=limits, device=device)


@dataclass(frozen=True, slots=True)
class ProfileEntry:
    """One row of ``profiles list``: the profile (when well formed) and why it cannot run here."""

    path: Path
    profile: Profile | None
    error: ConfigError | None
    """``None`` when the profile runs under the effective limits; else the reason it does not."""


def list_profiles(config: ClinicConfig | None = None) -> list[ProfileEntry]:
    """Every profile in :func:`profile_dirs`, checked against the effective limits; a profile
    that only fails those limits is still described (its ``error`` says what would allow it)."""
    limits = config.limits if config is not None else DEFAULT_LIMITS
    entries: list[ProfileEntry] = []
    for path in profile_paths(config):
        try:
            entries.append(ProfileEntry(path, read_profile(path, limits=limits), None))
        except ConfigError as error:
            try:
                described: Profile | None = read_profile(path, limits=PERMISSIVE_LIMITS)
            except ConfigError:
                described = None
            entries.append(ProfileEntry(path, described, error))
    return entries


__all__ = [
    "PERMISSIVE_LIMITS",
    "ProfileEntry",
    "display_path",
    "list_profiles",
    "load_profile",
    "profile_dirs",
    "profile_paths",
    "read_profile",
    "resolve_profile",
    "shipped_profiles_dir",
]
