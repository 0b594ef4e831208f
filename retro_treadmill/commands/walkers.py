"""``retro-treadmill walkers add|list|show|edit|archive|delete``: the people who walk, and their
caps.

A walker is a pseudonymous id with optional caps (speed, incline, heart rate, heart-rate hold), a
rehab program and a local name and note. ``delete ID --yes`` removes everything kept about a
walker (sessions, samples, events, ratings, screening answers, the walker). Caps can only
tighten the clinic's limits: a value above the clinic's cap is refused naming that cap. Walkers
live in the session database
(``--data-dir``/``RETRO_TREADMILL_DATA``); names and notes never leave this computer.

Exit codes: 0 done; 1 the store cannot be read or written; 2 a bad argument (unknown walker, a cap
above the clinic's, an unknown program).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

from retro_treadmill.config import ClinicConfig, add_config_argument, load_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.records.model import utc_iso
from retro_treadmill.records.paths import add_data_dir_argument, database_path
from retro_treadmill.records.store import Store, StoreError, WalkerNotFound
from retro_treadmill.records.walkers import (
    Walker,
    WalkerCaps,
    WalkerError,
    check_caps,
    check_walker_id,
    describe_caps,
    effective_limits,
)
from retro_treadmill.units import kmh_to_mph, mph_to_kmh

EXIT_OK = 0
EXIT_STORE = 1
EXIT_USAGE = 2

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the session store cannot be read or written; 2 unknown walker, a cap "
    "above the clinic's, an unknown program or another bad argument."
)

CLEAR = "none"
"""``walkers edit ID --max-speed-mph none`` removes the walker's own cap."""


def register(subparsers: Any) -> None:
    """Add ``walkers`` and its actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "walkers",
        help="walkers (pseudonymous ids) with their own caps and program",
        description="The people who walk: pseudonymous ids, their own caps (which only tighten "
        "the clinic's) and their rehab program. Names and notes stay on this computer.",
        epilog=EXIT_CODES_HELP,
    )
    actions = parser.add_subparsers(dest="walkers_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a walker", epilog=EXIT_CODES_HELP)
    add.add_argument("walker", metavar="ID", help="a pseudonymous id, e.g. W-17")
    _fields(add, clearable=False)
    add.set_defaults(handler=run_add)

    edit = actions.add_parser(
        "edit",
        help="change a walker's caps, program, name or note",
        description=f"Change the values given; '{CLEAR}' removes a cap or the program.",
        epilog=EXIT_CODES_HELP,
    )
    edit.add_argument("walker", metavar="ID")
    _fields(edit, clearable=True)
    edit.set_defaults(handler=run_edit)

    listing = actions.add_parser("list", help="the walkers", epilog=EXIT_CODES_HELP)
    listing.add_argument("--all", action="store_true", help="include archived walkers")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add_data_dir_argument(listing)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser(
        "show", help="one walker: caps, effective limits, program stage", epilog=EXIT_CODES_HELP
    )
    show.add_argument("walker", metavar="ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_argument(show)
    add_data_dir_argument(show)
    show.set_defaults(handler=run_show)

    archive = actions.add_parser(
        "archive",
        help="archive a walker (kept with their sessions, no longer listed)",
        epilog=EXIT_CODES_HELP,
    )
    archive.add_argument("walker", metavar="ID")
    archive.add_argument("--undo", action="store_true", help="bring an archived walker back")
    add_data_dir_argument(archive)
    archive.set_defaults(handler=run_archive)

    delete = actions.add_parser(
        "delete",
        help="delete everything kept about a walker (sessions, samples, events, ratings, "
        "screening answers, name and note)",
        description="Removes the walker and all their data in one transaction. Without --yes "
        "it only says what would be deleted.",
        epilog=EXIT_CODES_HELP,
    )
    delete.add_argument("walker", metavar="ID")
    delete.add_argument("--yes", action="store_true", help="really delete (cannot be undone)")
    add_data_dir_argument(delete)
    delete.set_defaults(handler=run_delete)


def _number_or_clear(clearable: bool) -> Any:
    def parse(text: str) -> float | None:
        if clearable and text.strip().lower() == CLEAR:
            return None
        try:
            return float(text)
        except ValueError:
            extra = f" or '{CLEAR}'" if clearable else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not a number{extra}") from None

    return parse


_UNSET = object()


def _fields(parser: argparse.ArgumentParser, *, clearable: bool) -> None:
    number = _number_or_clear(clearable)
    default = _UNSET if clearable else None
    parser.add_argument("--name", default=default, help="the person's name (kept locally only)")
    parser.add_argument(
        "--max-speed-mph", type=number, default=default, metavar="X", help="speed cap, mph"
    )
    parser.add_argument(
        "--max-incline", type=number, default=default, metavar="X", help="incline cap, percent"
    )
    parser.add_argument(
        "--max-heart-rate",
        type=number,
        default=default,
        metavar="N",
        help="heart rate above N bpm for 2 samples stops the belt",
    )
    parser.add_argument(
        "--hr-hold-above",
        type=number,
        default=default,
        metavar="N",
        help="at or above N bpm speed and incline increases are refused",
    )
    parser.add_argument(
        "--program", default=default, metavar="NAME", help="rehab program (`programs list`)"
    )
    parser.add_argument("--note", default=default, help="a note (kept locally only)")
    add_config_argument(parser)
    add_data_dir_argument(parser)


def _caps_from(args: argparse.Namespace, base: WalkerCaps) -> WalkerCaps:
    values: dict[str, Any] = {}
    for option, field_name, convert in (
        ("max_speed_mph", "max_speed_kmh", mph_to_kmh),
        ("max_incline", "max_incline_pct", float),
        ("max_heart_rate", "max_heart_rate_bpm", float),
        ("hr_hold_above", "hr_hold_above_bpm", float),
    ):
        raw = getattr(args, option)
        if raw is _UNSET:
            continue
        values[field_name] = None if raw is None else convert(raw)
    return dataclasses.replace(base, **values)


def _check_program(name: str | None, config: ClinicConfig) -> None:
    if name is None:
        return
    from retro_treadmill.programs import load_program

    load_program(name, config)


def _fail(error: Exception, code: int = EXIT_USAGE) -> int:
    print(f"retro-treadmill: error: {error}", file=sys.stderr)
    return code


def _open_for_writing(data_dir: str | None) -> Store:
    return Store.open(database_path(data_dir))


def run_add(args: argparse.Namespace) -> int:
    """Add a walker after checking the id, the caps against the clinic's and the program."""
    try:
        walker_id = check_walker_id(args.walker)
        config = load_config(args.config)
        caps = _caps_from(args, WalkerCaps())
        check_caps(caps, config.limits, config.source)
        _check_program(args.program, config)
    except (WalkerError, ConfigError) as error:
        return _fail(error)
    walker = Walker(
        walker_id=walker_id,
        caps=caps,
        name=args.name or "",
        program=args.program,
        note=args.note or "",
        created_at=time.time(),
    )
    try:
        with _open_for_writing(args.data_dir) as store:
            store.add_walker(walker)
    except StoreError as error:
        return _fail(error, EXIT_USAGE if "exists already" in str(error) else EXIT_STORE)
    print(f"Added walker {walker_id}: {describe_caps(caps)}" + _program_text(walker))
    return EXIT_OK


def _program_text(walker: Walker) -> str:
    return f"; program {walker.program}" if walker.program else ""


def run_edit(args: argparse.Namespace) -> int:
    """Change the values given on the command line."""
    try:
        config = load_config(args.config)
        with _open_for_writing(args.data_dir) as store:
            walker = store.walker(args.walker)
            caps = _caps_from(args, walker.caps)
            check_caps(caps, config.limits, config.source)
            changes: dict[str, Any] = {"caps": caps}
            for option in ("name", "note"):
                value = getattr(args, option)
                if value is not _UNSET:
                    changes[option] = value
            if args.program is not _UNSET:
                program = None if args.program.strip().lower() == CLEAR else args.program
                _check_program(program, config)
                changes["program"] = program
            walker = dataclasses.replace(walker, **changes)
            store.update_walker(walker)
    except WalkerNotFound as error:
        return _fail(error)
    except StoreError as error:
        return _fail(error, EXIT_STORE)
    except (WalkerError, ConfigError) as error:
        return _fail(error)
    print(f"Walker {walker.walker_id}: {describe_caps(walker.caps)}" + _program_text(walker))
    return EXIT_OK


def run_archive(args: argparse.Namespace) -> int:
    """Archive (or with ``--undo`` restore) a walker; their sessions stay."""
    try:
        with _open_for_writing(args.data_dir) as store:
            walker = store.walker(args.walker)
            walker = dataclasses.replace(walker, archived_at=None if args.undo else time.time())
            store.update_walker(walker)
    except WalkerNotFound as error:
        return _fail(error)
    except StoreError as error:
        return _fail(error, EXIT_STORE)
    state = "restored" if args.undo else "archived (sessions kept; `walkers list --all` shows it)"
    print(f"Walker {walker.walker_id} {state}")
    return EXIT_OK


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if kind != "walker")


def run_delete(args: argparse.Namespace) -> int:
    """Delete a walker and everything kept about them (only with ``--yes``)."""
    from retro_treadmill.screening import screening_scope

    scope = screening_scope(args.walker)
    try:
        with _open_for_writing(args.data_dir) as store:
            if not args.yes:
                counts = store.walker_data(args.walker, scope)
                if not any(counts.values()):
                    return _fail(WalkerNotFound(f"nothing is kept about a walker {args.walker!r}"))
                print(
                    f"Would delete walker {args.walker} ({_counts_text(counts)}); "
                    "add --yes to delete (cannot be undone)."
                )
                return EXIT_USAGE
            counts = store.delete_walker(args.walker, scope)
    except WalkerNotFound as error:
        return _fail(error)
    except StoreError as error:
        return _fail(error, EXIT_STORE)
    print(f"Walker {args.walker} deleted with {_counts_text(counts)}.")
    return EXIT_OK


def walker_json(walker: Walker) -> dict[str, Any]:
    """A walker as JSON (speeds km/h and mph, inclines percent, heart rates bpm)."""
    caps = walker.caps
    return {
        "id": walker.walker_id,
        "name": walker.name,
        "max_speed_kmh": caps.max_speed_kmh,
        "max_speed_mph": None if caps.max_speed_kmh is None else kmh_to_mph(caps.max_speed_kmh),
        "max_incline_pct": caps.max_incline_pct,
        "max_heart_rate_bpm": caps.max_heart_rate_bpm,
        "hr_hold_above_bpm": caps.hr_hold_above_bpm,
        "program": walker.program,
        "note": walker.note,
        "created_at": utc_iso(walker.created_at),
        "archived_at": None if walker.archived_at is None else utc_iso(walker.archived_at),
    }


def run_list(args: argparse.Namespace) -> int:
    """One line per walker."""
    from retro_treadmill.commands.history import open_store, print_table

    try:
        store = open_store(args.data_dir)
        walkers: list[Walker] = []
        if store is not None:
            with store:
                walkers = store.list_walkers(include_archived=args.all)
    except StoreError as error:
        return _fail(error, EXIT_STORE)
    if args.json:
        print(json.dumps([walker_json(w) for w in walkers], indent=2))
        return EXIT_OK
    if not walkers:
        print(f"No walkers yet ({database_path(args.data_dir)}); add one with `walkers add ID`.")
        return EXIT_OK
    table = [("ID", "NAME", "CAPS", "PROGRAM", "")]
    for w in walkers:
        table.append(
            (
                w.walker_id,
                w.name or "-",
                describe_caps(w.caps),
                w.program or "-",
                "archived" if w.archived else "",
            )
        )
    print_table(table)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """A walker's caps, the effective limits they run under and (with a program) the stage the
    next session would run."""
    from retro_treadmill.commands.history import open_store

    try:
        config = load_config(args.config)
        store = open_store(args.data_dir)
        if store is None:
            raise WalkerNotFound(f"no walker {args.walker!r}: nothing recorded yet")
        with store:
            walker = store.walker(args.walker)
            stage_text = _stage_text(store, walker, config)
        limits = effective_limits(config.limits, walker)
    except WalkerNotFound as error:
        return _fail(error)
    except StoreError as error:
        return _fail(error, EXIT_STORE)
    except (WalkerError, ConfigError) as error:
        return _fail(error)
    if args.json:
        out = walker_json(walker)
        out["effective"] = {
            "max_speed_kmh": limits.max_speed_kmh,
            "max_incline_pct": limits.max_incline_pct,
            "max_heart_rate_bpm": None
            if limits.max_heart_rate_bpm == float("inf")
            else limits.max_heart_rate_bpm,
        }
        out["next"] = stage_text
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(f"Walker {walker.walker_id}" + (" (archived)" if walker.archived else ""))
    if walker.name:
        print(f"  name       {walker.name} (local only)")
    print(f"  caps       {describe_caps(walker.caps)}")
    hr = (
        "none"
        if limits.max_heart_rate_bpm == float("inf")
        else f"{limits.max_heart_rate_bpm:.0f} bpm"
    )
    print(
        f"  effective  max speed {kmh_to_mph(limits.max_speed_kmh):.2f} mph, max incline "
        f"{limits.max_incline_pct:g} %, heart-rate limit {hr} (clinic: {config.source})"
    )
    print(f"  program    {walker.program or '-'}")
    if stage_text:
        print(f"  next       {stage_text}")
    if walker.note:
        print(f"  note       {walker.note}")
    return EXIT_OK


def _stage_text(store: Store, walker: Walker, config: ClinicConfig) -> str | None:
    if walker.program is None:
        return None
    from retro_treadmill.programs import choose_for_walker

    return choose_for_walker(store, walker, config).text


__all__ = ["register", "walker_json"]
