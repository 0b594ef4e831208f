"""Finding and reading profile files (the IO shell around :mod:`retro_treadmill.session.profile`).

Shipped profiles live in the repository's top-level ``profiles/`` folder; an installed wheel
carries them as ``retro_treadmill/_profiles`` (pyproject's force-include). A clinic adds its own
folders with ``[profiles] dirs`` in the clinic config; a clinic profile with the name of a shipped
one replaces it (the clinic's folders are searched first). ``NAME`` means a profile's ``name``
(which is also its file name without ``.toml``); anything with a ``/`` or ending in ``.toml`` is a
path.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from retro_treadmill.config import ClinicConfig
from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.session.profile import DeviceRange, Profile, parse_profile

PROFILE_SUFFIX = ".toml"
MAX_PROFILE_BYTES = 1024 * 1024
"""Largest profile file read (1 MB; the longest shipped profile is about 2 kB)."""
SHIPPED = "shipped"
CLINIC = "clinic"
CLINIC_REPLACES_SHIPPED = "clinic (replaces shipped)"

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
    """Where named profiles are looked up, in order: the clinic's folders (in the order the
    config lists them), then the shipped folder. The first file with a name wins."""
    extra = config.profile_dirs if config is not None else ()
    return (*extra, shipped_profiles_dir())


def profile_sources(config: ClinicConfig | None = None) -> list[tuple[Path, str]]:
    """Each profile name once, as (file, source): the shipped profiles sorted by name, then the
    clinic's own; a clinic file with a shipped profile's name takes that profile's place, with
    the source ``clinic (replaces shipped)``."""
    shipped_dir = shipped_profiles_dir()
    shipped = sorted(shipped_dir.glob(f"*{PROFILE_SUFFIX}")) if shipped_dir.is_dir() else []
    clinic: dict[str, Path] = {}
    for folder in config.profile_dirs if config is not None else ():
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{PROFILE_SUFFIX}")):
                clinic.setdefault(path.stem, path)
    result = [
        (clinic.pop(p.stem), CLINIC_REPLACES_SHIPPED) if p.stem in clinic else (p, SHIPPED)
        for p in shipped
    ]
    return result + [(path, CLINIC) for path in clinic.values()]


def profile_paths(config: ClinicConfig | None = None) -> list[Path]:
    """The file of each profile name (see :func:`profile_sources`)."""
    return [path for path, _source in profile_sources(config)]


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
    match_file_name: bool = False,
) -> Profile:
    """Read and validate one profile file against the effective ``limits`` (and ``device``).
    ``match_file_name``: the profile's ``name`` must be its file name (``profiles validate``)."""
    shown = display_path(path)
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ConfigError(
                f"the file is {size / 1024 / 1024:.1f} MB; a profile is at most 1 MB", path=shown
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such profile file", path=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the profile: {exc}", path=shown) from None
    profile = parse_profile(text, shown, limits=limits, device=device)
    if match_file_name and profile.name != path.stem:
        found = re.search(r"^\s*name\s*=", text, re.M)
        line = f" (line {text.count(chr(10), 0, found.start()) + 1})" if found else ""
        raise ConfigError(
            f"name {profile.name!r} differs from the file name {path.stem!r}{line}; a profile is "
            f"found by its file name, so rename the file to {profile.name}{PROFILE_SUFFIX} or "
            f"set name = {path.stem!r}",
            path=shown,
            field="name",
        )
    return profile


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
    source: str = SHIPPED
    """``shipped``, ``clinic`` or ``clinic (replaces shipped)``."""


def list_profiles(config: ClinicConfig | None = None) -> list[ProfileEntry]:
    """Every profile in :func:`profile_dirs`, checked against the effective limits; a profile
    that only fails those limits is still described (its ``error`` says what would allow it)."""
    limits = config.limits if config is not None else DEFAULT_LIMITS
    entries: list[ProfileEntry] = []
    for path, source in profile_sources(config):
        try:
            profile = read_profile(path, limits=limits, match_file_name=True)
            entries.append(ProfileEntry(path, profile, None, source))
        except ConfigError as error:
            try:
                described: Profile | None = read_profile(path, limits=PERMISSIVE_LIMITS)
            except ConfigError:
                described = None
            entries.append(ProfileEntry(path, described, error, source))
    return entries


__all__ = [
    "CLINIC",
    "CLINIC_REPLACES_SHIPPED",
    "MAX_PROFILE_BYTES",
    "PERMISSIVE_LIMITS",
    "SHIPPED",
    "ProfileEntry",
    "display_path",
    "list_profiles",
    "load_profile",
    "profile_dirs",
    "profile_paths",
    "profile_sources",
    "read_profile",
    "resolve_profile",
    "shipped_profiles_dir",
]
