"""``retro-treadmill report SESSION_ID | --walker ID [--since DATE] [-o FILE]``: one
self-contained HTML file (inline SVG charts and style, nothing fetched) that prints on A4.

Exit codes: 0 written; 1 the store cannot be read or the file cannot be written; 2 unknown
session or walker, or a bad argument.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from retro_treadmill.commands.history import open_store, parse_since
from retro_treadmill.config import ClinicConfig, add_config_argument, load_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.records.model import EventKind, SessionRecord
from retro_treadmill.records.paths import FILE_MODE, add_data_dir_argument, database_path
from retro_treadmill.records.programs import Program
from retro_treadmill.records.store import SessionNotFound, Store, StoreError, WalkerNotFound
from retro_treadmill.records.walkers import Walker, WalkerError, effective_limits

EXIT_OK = 0
EXIT_IO = 1
EXIT_USAGE = 2

EXIT_CODES_HELP = (
    "Exit codes: 0 written; 1 the store cannot be read or the file cannot be written; 2 unknown "
    "session or walker, or a bad argument."
)


def register(subparsers: Any) -> None:
    """Add ``report``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="an HTML report of a session or of a walker's progress (prints on A4)",
        description="Write one self-contained HTML file (no network, no external files) for a "
        "session, or for a walker's sessions (--walker). Open it in a browser and print it.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("session", metavar="SESSION_ID", nargs="?", help="a session id or prefix")
    parser.add_argument("--walker", metavar="ID", help="a walker's progress across sessions")
    parser.add_argument(
        "--since",
        metavar="DATE",
        type=parse_since,
        default=None,
        help="with --walker: sessions started on or after DATE (YYYY-MM-DD)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write the HTML file")
    parser.add_argument(
        "--units", choices=("mph", "kmh"), default="mph", help="speed unit (default: mph)"
    )
    add_config_argument(parser)
    add_data_dir_argument(parser)
    parser.set_defaults(handler=run_report)


def _program(walker: Walker | None, config: ClinicConfig) -> Program | None:
    if walker is None or walker.program is None:
        return None
    from retro_treadmill.programs import load_program

    return load_program(walker.program, config)


def _walker(store: Store, walker_id: str | None) -> Walker | None:
    if walker_id is None:
        return None
    try:
        return store.walker(walker_id)
    except WalkerNotFound:
        return None


def _records(store: Store, walker_id: str) -> list[SessionRecord]:
    return [store.load(row.session_id) for row in store.list_sessions(walker_id=walker_id)]


def build(args: argparse.Namespace) -> tuple[str, str]:
    """The report's HTML and its default file name."""
    from retro_treadmill.records.progression import choose_stage, history_results
    from retro_treadmill.records.report import (
        SessionContext,
        session_report,
        walker_report,
        walker_stages,
    )

    if (args.session is None) == (args.walker is None):
        raise ConfigError("give a SESSION_ID or --walker ID (one of the two)")
    if args.since is not None and args.walker is None:
        raise ConfigError("--since goes with --walker")
    config = load_config(args.config)
    store = open_store(args.data_dir)
    if store is None:
        raise SessionNotFound(f"nothing recorded yet in {database_path(args.data_dir)}")
    with store:
        if args.walker is not None:
            walker = store.walker(args.walker)
            program = _program(walker, config)
            records = _records(store, walker.walker_id)
            rows = walker_stages(records, program)
            if args.since is not None:
                rows = [r for r in rows if r.record.info.started_at >= args.since]
            next_stage = None
            if program is not None:
                names = {
                    r.info.session_id: alarms[0].name
                    for r in records
                    if (alarms := [e for e in r.events if e.kind == EventKind.ALARM])
                }
                results = history_results([r.row for r in records], names)
                next_stage = choose_stage(program, results).text
            text = walker_report(
                walker,
                rows,
                program=program,
                next_stage=next_stage,
                limits=effective_limits(config.limits, walker),
                units=args.units,
                since=args.since,
            )
            return text, f"retro-treadmill-report-{walker.walker_id}.html"
        record = store.load(args.session)
        owner = _walker(store, record.info.walker_id)
        program = _program(owner, config)
        stage = None
        if owner is not None and program is not None:
            for row in walker_stages(_records(store, owner.walker_id), program):
                if row.record.info.session_id == record.info.session_id and row.stage:
                    stage = f"{program.name}: {row.stage}"
        context = SessionContext(
            record=record,
            stage=stage,
            walker=owner,
            limits=effective_limits(config.limits, owner),
        )
        return session_report(context, args.units), (
            f"retro-treadmill-report-{record.info.session_id[:8]}.html"
        )


def run_report(args: argparse.Namespace) -> int:
    """Write the report (0600: it is health data)."""
    try:
        text, name = build(args)
    except (SessionNotFound, WalkerNotFound, ConfigError, WalkerError) as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_IO
    path = Path(args.output) if args.output else Path(name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        print(f"retro-treadmill: error: cannot write {path}: {error}", file=sys.stderr)
        return EXIT_IO
    print(f"Report written to {path}")
    return EXIT_OK


__all__ = ["build", "register", "run_report"]
