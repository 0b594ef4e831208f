"""``retro-treadmill export ID --format fit|tcx|csv [-o PATH]``: one recorded session as a file.

FIT (Garmin Connect, Strava, most training apps): a walking activity on a treadmill with one lap
per profile segment. TCX (Garmin Training Center XML, which Strava and others import): a lap per
segment, trackpoints with time, distance, heart rate and speed. CSV: one row per 1 Hz sample with
a header. ``-o -`` writes to standard output; without ``-o`` the file goes to the current folder
as ``retro-treadmill-YYYYMMDD-HHMMSS-<id>.<format>``.

Exit codes: 0 written; 1 the store cannot be read or the file cannot be written; 2 unknown or
ambiguous session id.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from retro_treadmill.commands.history import record_or_exit_code
from retro_treadmill.records.export import FORMATS, ExportFormat, default_filename, export
from retro_treadmill.records.paths import add_data_dir_argument

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add ``export``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="write a recorded session as FIT, TCX or CSV",
        description="Write one recorded session as a FIT or TCX activity (Garmin, Strava, ...) "
        "or a CSV of its samples.",
        epilog="Exit codes: 0 written; 1 the store cannot be read or the file cannot be "
        "written; 2 unknown or ambiguous session id.",
    )
    parser.add_argument("session", metavar="ID", help="a session id or a unique prefix of one")
    parser.add_argument("--format", choices=FORMATS, required=True, help="the file format")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default=None,
        help="where to write ('-' for standard output; default: a file named after the session "
        "in the current folder; a folder: that file in the folder)",
    )
    add_data_dir_argument(parser)
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Load the session and write it in the format asked for."""
    fmt: ExportFormat = args.format
    record = record_or_exit_code(args.data_dir, args.session)
    if isinstance(record, int):
        return record
    data = export(record, fmt)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    path = Path(args.output) if args.output else Path(default_filename(record, fmt))
    if path.is_dir():
        path = path / default_filename(record, fmt)
    try:
        # The export carries health data: owner-only, like the store.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError as error:
        print(f"retro-treadmill: error: cannot write {path}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{path}: {fmt.upper()}, {len(record.samples)} samples, session {record.info.session_id}")
    return EXIT_OK


__all__ = ["register", "run_export"]
