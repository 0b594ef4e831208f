"""Finding and reading rehab programs, and choosing a walker's next stage (the IO shell around
:mod:`retro_treadmill.records.programs` and :mod:`retro_treadmill.records.progression`).

Programs live in a ``programs/`` folder beside the profiles: the shipped one
(``profiles/programs/``) and ``programs/`` inside each clinic profile folder (``[profiles] dirs``).
``NAME`` is a program's ``name`` and file name without ``.toml``; a ``/`` or ``.toml`` means a
path. Each stage's profile is looked up like ``--profile`` (a name, or a path relative to the
program's folder) and must be a valid profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from retro_treadmill.config import ClinicConfig
from retro_treadmill.errors import ConfigError
from retro_treadmill.profiles import (
    PERMISSIVE_LIMITS,
    display_path,
    profile_dirs,
    read_profile,
    resolve_profile,
)
from retro_treadmill.records.model import EventKind, SessionRow
from retro_treadmill.records.programs import Program, parse_program
from retro_treadmill.records.progression import StageChoice, choose_stage, history_results
from retro_treadmill.records.store import Store
from retro_treadmill.records.walkers import Walker

PROGRAMS_FOLDER = "programs"
SUFFIX = ".toml"


def program_dirs(config: ClinicConfig | None = None) -> tuple[Path, ...]:
    """``programs/`` in every profile folder, shipped first."""
    return tuple(folder / PROGRAMS_FOLDER for folder in profile_dirs(config))


def program_paths(config: ClinicConfig | None = None) -> list[Path]:
    """Every program file, sorted by name within a folder."""
    paths: list[Path] = []
    for folder in program_dirs(config):
        if folder.is_dir():
            paths.extend(sorted(folder.glob(f"*{SUFFIX}")))
    return paths


def resolve_program(name_or_path: str, config: ClinicConfig | None = None) -> Path:
    """The file for a program name or path; :class:`ConfigError` listing the known names."""
    if "/" in name_or_path or os.sep in name_or_path or name_or_path.endswith(SUFFIX):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError("no such program file", path=name_or_path)
        return path
    for folder in program_dirs(config):
        candidate = folder / f"{name_or_path}{SUFFIX}"
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in program_paths(config)) or "none"
    raise ConfigError(f"no program named {name_or_path!r}; known programs: {known}")


def stage_profile_path(program: Program, stage_profile: str, config: ClinicConfig | None) -> Path:
    """A stage's profile file: a path relative to the program's folder, or a profile name."""
    if "/" in stage_profile or stage_profile.endswith(SUFFIX):
        return resolve_profile(str(Path(program.source).parent / stage_profile), config)
    return resolve_profile(stage_profile, config)


def read_program(path: Path, config: ClinicConfig | None = None) -> Program:
    """Read and validate a program file, including that every stage's profile exists and is a
    valid profile (the clinic's limits are checked when a stage runs, like ``--profile``)."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the program: {exc}", path=shown) from None
    program = parse_program(text, str(path))
    if program.name != path.stem:
        raise ConfigError(
            f"name {program.name!r} differs from the file name {path.stem!r}; make them the same",
            path=shown,
            field="name",
        )
    for number, stage in enumerate(program.stages, start=1):
        try:
            read_profile(
                stage_profile_path(program, stage.profile, config), limits=PERMISSIVE_LIMITS
            )
        except ConfigError as error:
            raise ConfigError(
                f"profile {stage.profile!r}: {error}", path=shown, where=f"stage {number}"
            ) from None
    return program


def load_program(name_or_path: str, config: ClinicConfig | None = None) -> Program:
    """The program for a name or path, validated."""
    return read_program(resolve_program(name_or_path, config), config)


@dataclass(frozen=True, slots=True)
class ProgramEntry:
    """One row of ``programs list``."""

    path: Path
    program: Program | None
    error: ConfigError | None


def list_programs(config: ClinicConfig | None = None) -> list[ProgramEntry]:
    """Every program file, with its error when it does not load."""
    entries = []
    for path in program_paths(config):
        try:
            entries.append(ProgramEntry(path, read_program(path, config), None))
        except ConfigError as error:
            entries.append(ProgramEntry(path, None, error))
    return entries


def choose_for_walker(store: Store, walker: Walker, config: ClinicConfig | None) -> StageChoice:
    """The stage the walker's program gives for their next session (the walker must have a
    program; :class:`ConfigError` otherwise)."""
    if walker.program is None:
        raise ConfigError(
            f"walker {walker.walker_id} has no program; give one with "
            f"`walkers edit {walker.walker_id} --program NAME` or run with --profile"
        )
    program = load_program(walker.program, config)
    rows = store.list_sessions(walker_id=walker.walker_id)
    return choose_stage(program, history_results(rows, alarm_names(store, rows)))


def alarm_names(store: Store, rows: list[SessionRow]) -> dict[str, str]:
    """The first alarm's name of each session that had one, by session id."""
    names: dict[str, str] = {}
    for row in rows:
        if row.totals.alarm_count > 0:
            alarms = [e for e in store.load(row.session_id).events if e.kind == EventKind.ALARM]
            if alarms:
                names[row.session_id] = alarms[0].name
    return names


__all__ = [
    "ProgramEntry",
    "alarm_names",
    "choose_for_walker",
    "list_programs",
    "load_program",
    "program_dirs",
    "program_paths",
    "read_program",
    "resolve_program",
    "stage_profile_path",
]
