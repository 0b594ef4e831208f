"""``retro-treadmill profiles list|show|validate``: the shipped and clinic profiles.

Exit codes: 0 all well; 2 a profile (or the clinic config) is invalid, with one clear error per
file on stderr naming the file, the segment and the field.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from retro_treadmill.config import (
    ClinicConfig,
    add_config_argument,
    default_config_path,
    load_config,
)
from retro_treadmill.errors import ConfigError
from retro_treadmill.profiles import (
    PERMISSIVE_LIMITS,
    display_path,
    list_profiles,
    read_profile,
    resolve_profile,
)
from retro_treadmill.session.profile import Profile, Segment
from retro_treadmill.units import SpeedUnit, from_kmh, unit_label

EXIT_OK = 0
EXIT_INVALID = 2


def register(subparsers: Any) -> None:
    """Add ``profiles`` with its ``list``, ``show`` and ``validate`` subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "profiles",
        help="list, show and validate session profiles",
        description="Session profiles: the shipped presets and the clinic's own "
        "([profiles] dirs in the clinic config).",
    )
    actions = parser.add_subparsers(dest="profiles_command", metavar="ACTION", required=True)

    list_parser = actions.add_parser("list", help="every profile with its duration and ranges")
    _add_units(list_parser)
    add_config_argument(list_parser)
    list_parser.set_defaults(handler=run_list)

    show_parser = actions.add_parser("show", help="a profile's details and segments")
    show_parser.add_argument("profile", metavar="NAME|PATH")
    _add_units(show_parser)
    add_config_argument(show_parser)
    show_parser.set_defaults(handler=run_show)

    validate_parser = actions.add_parser(
        "validate",
        help="check profile files against the safety limits (exit 2 if any is invalid)",
    )
    validate_parser.add_argument("paths", metavar="PATH", nargs="+")
    add_config_argument(validate_parser)
    validate_parser.set_defaults(handler=run_validate)


def _add_units(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--units",
        choices=("mph", "kmh"),
        default=None,
        help="speed unit to show (default: mph for list, the profile's own for show)",
    )


def run_list(args: argparse.Namespace) -> int:
    """Print one row per profile: name, duration, speed and incline range, summary."""
    config = load_config(args.config)
    units: SpeedUnit = args.units or "mph"
    rows: list[tuple[str, ...]] = [
        ("NAME", "TIME", f"SPEED ({unit_label(units)})", "INCLINE (%)", "SOURCE", "DESCRIPTION")
    ]
    problems: list[str] = []
    for entry in list_profiles(config):
        profile = entry.profile
        if profile is None:
            rows.append((entry.path.stem, "-", "-", "-", entry.source, "INVALID (see below)"))
            problems.append(str(entry.error))
            continue
        summary = profile.summary
        if entry.error is not None:
            summary = f"[not allowed by {config.source}] {summary}"
            problems.append(str(entry.error))
        rows.append(
            (
                profile.name,
                format_duration(profile.total_duration_s),
                _speed_range(profile, units),
                _range(*profile.incline_range_pct),
                entry.source,
                summary,
            )
        )
    _print_table(rows)
    for problem in problems:
        print(f"\n{problem}")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Print a profile's metadata and its segments, with the turn-around stops."""
    config = load_config(args.config)
    path = resolve_profile(args.profile, config)
    refusal: ConfigError | None = None
    try:
        profile = read_profile(path, limits=config.limits)
    except ConfigError as error:
        refusal = error
        try:
            profile = read_profile(path, limits=PERMISSIVE_LIMITS)
        except ConfigError:
            raise error from None
    units: SpeedUnit = args.units or profile.units
    print(f"{profile.name}  ({display_path(path)})")
    print(profile.description.strip())
    print(f"audience: {profile.audience}")
    print(
        f"time {format_duration(profile.total_duration_s)} · speed {_speed_range(profile, units)}"
        f" {unit_label(units)} · incline {_range(*profile.incline_range_pct)} % · "
        f"{profile.direction_changes} turn(s) around"
    )
    print(f"caps: {_caps(profile, config, units)}")
    if refusal is not None:
        print(f"NOT ALLOWED BY {config.source}: {_with_config_path(refusal, config)}")
    print()
    _print_table(_segment_rows(profile, units))
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    """Validate each file; print ``ok`` lines on stdout and one error per bad file on stderr."""
    config = load_config(args.config)
    invalid = 0
    for name in args.paths:
        try:
            path = resolve_profile(name, config)
            profile = read_profile(path, limits=config.limits, match_file_name=True)
        except ConfigError as error:
            invalid += 1
            print(f"invalid: {_with_config_path(error, config)}", file=sys.stderr)
            continue
        print(
            f"ok: {display_path(path)}: {profile.name}, "
            f"{format_duration(profile.total_duration_s)}, "
            f"{_speed_range(profile, profile.units)} {unit_label(profile.units)}, "
            f"incline {_range(*profile.incline_range_pct)} %"
        )
    return EXIT_INVALID if invalid else EXIT_OK


def _with_config_path(error: ConfigError, config: ClinicConfig) -> str:
    """The error, plus which clinic config file to edit when the message asks for one."""
    message = str(error)
    if "clinic config" not in message:
        return message
    where = str(config.path) if config.path is not None else str(default_config_path())
    return f"{message} (clinic config: {where}, or --config PATH)"


def format_duration(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour up)."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _speed(kmh: float, units: SpeedUnit) -> str:
    text = _num(from_kmh(kmh, units))
    return text if "." in text else f"{text}.0"


def _range(low: float, high: float) -> str:
    return _num(low) if abs(high - low) < 1e-9 else f"{_num(low)}-{_num(high)}"


def _speed_range(profile: Profile, units: SpeedUnit) -> str:
    low, high = profile.speed_range_kmh
    if abs(high - low) < 1e-9:
        return _speed(low, units)
    return f"{_speed(low, units)}-{_speed(high, units)}"


def _caps(profile: Profile, config: ClinicConfig, units: SpeedUnit) -> str:
    limits = profile.limits.apply_to(config.limits)
    label = unit_label(units)
    return (
        f"speed <= {_speed(limits.max_speed_kmh, units)} {label}, start <= "
        f"{_speed(limits.max_start_speed_kmh, units)} {label}, incline "
        f"{_num(limits.min_incline_pct)}-{_num(limits.max_incline_pct)} % "
        f"(clinic: {config.source}; profile [limits] included)"
    )


def _segment_rows(profile: Profile, units: SpeedUnit) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (
            "#",
            "SEGMENT",
            "DIRECTION",
            f"SPEED ({unit_label(units)})",
            "INCLINE (%)",
            "TIME",
            "PROMPT",
        )
    ]
    rounds: dict[int, int] = {}
    for segment in profile.segments:
        rounds[segment.source_index] = max(rounds.get(segment.source_index, 0), segment.repeat)
    previous: Segment | None = None
    for number, segment in enumerate(profile.segments, start=1):
        if previous is not None and previous.direction != segment.direction:
            rows.append(("", "-- stop --", f"turn {segment.direction}", "0", "", "", "turn around"))
        speed = (
            _speed(segment.speed_from_kmh, units)
            if segment.speed_from_kmh == segment.speed_to_kmh
            else f"{_speed(segment.speed_from_kmh, units)} -> {_speed(segment.speed_to_kmh, units)}"
        )
        incline = (
            _num(segment.incline_from_pct)
            if segment.incline_from_pct == segment.incline_to_pct
            else f"{_num(segment.incline_from_pct)} -> {_num(segment.incline_to_pct)}"
        )
        label: str = segment.kind
        if segment.repeat:
            label += f" round {segment.repeat}/{rounds[segment.source_index]}"
        rows.append(
            (
                str(number),
                label,
                segment.direction,
                speed,
                incline,
                format_duration(segment.duration_s),
                segment.prompt,
            )
        )
        previous = segment
    return rows


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]).rstrip())


__all__ = ["format_duration", "register", "run_list", "run_show", "run_validate"]
