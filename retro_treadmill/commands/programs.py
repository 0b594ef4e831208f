"""``retro-treadmill programs list|show|validate``: rehab programs (stages of profiles).

Exit codes: 0 all well; 2 a program (or the clinic config) is invalid, with one error per file on
stderr naming the file, the stage and the key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from retro_treadmill.commands.profiles import format_duration
from retro_treadmill.config import add_config_argument, load_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.profiles import PERMISSIVE_LIMITS, display_path, read_profile
from retro_treadmill.programs import list_programs, load_program, read_program, stage_profile_path

EXIT_OK = 0
EXIT_INVALID = 2


def register(subparsers: Any) -> None:
    """Add ``programs`` with ``list``, ``show`` and ``validate``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "programs",
        help="list, show and validate rehab programs (stages of profiles)",
        description="Rehab programs: an ordered list of stages (a profile and a number of "
        "sessions) and the rule that moves a walker on. Shipped in profiles/programs/, a clinic's "
        "in programs/ inside its profile folders.",
    )
    actions = parser.add_subparsers(dest="programs_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every program with its stages")
    add_config_argument(listing)
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="a program's stages and progression rule")
    show.add_argument("program", metavar="NAME|PATH")
    add_config_argument(show)
    show.set_defaults(handler=run_show)
    validate = actions.add_parser("validate", help="check program files (exit 2 if any fails)")
    validate.add_argument("paths", metavar="PATH", nargs="+")
    add_config_argument(validate)
    validate.set_defaults(handler=run_validate)


def run_list(args: argparse.Namespace) -> int:
    """One line per program."""
    config = load_config(args.config)
    status = EXIT_OK
    for entry in list_programs(config):
        if entry.program is None:
            print(f"retro-treadmill: error: {entry.error}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        program = entry.program
        stages = ", ".join(f"{s.profile} x{s.sessions}" for s in program.stages)
        print(f"{program.name}: {program.summary}")
        print(f"    {program.total_sessions} sessions: {stages}")
    return status


def run_show(args: argparse.Namespace) -> int:
    """The program's description, stages (with each profile's duration) and rule."""
    config = load_config(args.config)
    program = load_program(args.program, config)
    print(f"{program.name} ({display_path(Path(program.source))})")
    print(program.description.strip())
    print(f"\nFor: {program.audience}")
    print(
        f"\nProgression: advance after the stage's sessions are completed with pain at most "
        f"{program.rule.max_pain}/10 and no safety alarm; repeat the stage when pain rises by "
        f"{program.rule.pain_rise} or more; step back a stage after an alarm."
    )
    print("\nStages:")
    for number, stage in enumerate(program.stages, start=1):
        profile = read_profile(
            stage_profile_path(program, stage.profile, config), limits=PERMISSIVE_LIMITS
        )
        print(
            f"  {number}. {stage.name}: {stage.profile} x{stage.sessions} "
            f"({format_duration(profile.total_duration_s)} each)"
        )
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    """Check each file; print ``OK`` or the error."""
    config = load_config(args.config)
    status = EXIT_OK
    for raw in args.paths:
        try:
            program = read_program(Path(raw), config)
        except ConfigError as error:
            print(f"retro-treadmill: error: {error}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        print(f"{raw}: OK ({len(program.stages)} stages, {program.total_sessions} sessions)")
    return status


__all__ = ["register"]
