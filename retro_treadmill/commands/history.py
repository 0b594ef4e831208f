"""``retro-treadmill history [show ID]``: the recorded sessions.

``history [--walker ID] [--since DATE] [--json]`` lists one row per session, newest first;
``history show ID [--json]`` shows one session (an id or a unique prefix of one, as the list
prints it): the summary, the segments as walked, alarms, operator actions and refused commands.

Exit codes: 0 done (also when nothing has been recorded yet); 1 the store cannot be read (not a
database, written by a newer version); 2 a bad argument (unknown or ambiguous id, a date that
does not parse).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from retro_treadmill.commands.profiles import format_duration
from retro_treadmill.records.model import (
    EventKind,
    RecordedEvent,
    SegmentSummary,
    SessionRecord,
    SessionRow,
    Totals,
    utc_iso,
)
from retro_treadmill.records.paths import add_data_dir_argument, database_path
from retro_treadmill.records.store import SessionNotFound, Store, StoreError
from retro_treadmill.records.totals import segment_summaries
from retro_treadmill.units import SpeedUnit, format_distance, format_speed, from_kmh, unit_label

EXIT_OK = 0
EXIT_STORE = 1
EXIT_USAGE = 2

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the session store cannot be read; 2 unknown or ambiguous session id, "
    "or a date that does not parse."
)


def register(subparsers: Any) -> None:
    """Add ``history`` and ``history show``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "history",
        help="the recorded sessions (list, or `history show ID`)",
        description="The sessions recorded on this computer, newest first.",
        epilog=EXIT_CODES_HELP,
    )
    _common(parser)
    parser.add_argument("--walker", metavar="ID", default=None, help="only this walker's sessions")
    parser.add_argument(
        "--since",
        metavar="DATE",
        default=None,
        type=parse_since,
        help="only sessions started on or after DATE (YYYY-MM-DD local time, or an ISO 8601 "
        "date and time)",
    )
    parser.set_defaults(handler=run_list)
    actions = parser.add_subparsers(dest="history_command", metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="one session: summary, segments, alarms, operator actions",
        epilog=EXIT_CODES_HELP,
    )
    show.add_argument("session", metavar="ID", help="a session id or a unique prefix of one")
    # SUPPRESS: the options may come before `show` too (argparse would otherwise let the
    # subcommand's defaults overwrite them).
    _common(show, suppress=True)
    show.set_defaults(handler=run_show)
    from retro_treadmill.commands.rate import add_parser as add_rate_parser

    add_rate_parser(actions, EXIT_CODES_HELP)


def _common(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="machine-readable output",
    )
    parser.add_argument(
        "--units",
        choices=("mph", "kmh"),
        default=argparse.SUPPRESS if suppress else "mph",
        help="speed unit (default: mph)",
    )
    add_data_dir_argument(parser, default=argparse.SUPPRESS if suppress else None)


def parse_since(text: str) -> float:
    """``YYYY-MM-DD`` (local midnight) or an ISO 8601 date-time (local time unless it says
    otherwise) as UTC epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as people type dates
    return moment.timestamp()


def open_store(data_dir: str | None) -> Store | None:
    """The store for reading, or ``None`` when nothing has been recorded there yet."""
    path = database_path(data_dir)
    if not path.exists():
        return None
    # Readers never write: an interrupted session is shown so, and closed by the next recording.
    return Store.open(path, create=False, recover=False)


def load_record(data_dir: str | None, session: str) -> SessionRecord:
    """One session by id or unique prefix (raises :class:`SessionNotFound`, :class:`StoreError`)."""
    store = open_store(data_dir)
    if store is None:
        raise SessionNotFound(
            f"no session {session!r}: nothing recorded yet in {database_path(data_dir)}"
        )
    with store:
        return store.load(session)


def record_or_exit_code(data_dir: str | None, session: str) -> SessionRecord | int:
    """:func:`load_record` for a command: the record, or the error said on stderr and the exit
    code (2 no such session, 1 the store cannot be read)."""
    try:
        return load_record(data_dir, session)
    except SessionNotFound as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_STORE


def run_list(args: argparse.Namespace) -> int:
    """Print one row per session (or a JSON list)."""
    try:
        store = open_store(args.data_dir)
        rows: list[SessionRow] = []
        if store is not None:
            with store:
                rows = store.list_sessions(walker_id=args.walker, since=args.since)
    except StoreError as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_STORE
    if args.json:
        print(json.dumps([row_json(r) for r in rows], indent=2))
        return EXIT_OK
    if not rows:
        where = database_path(args.data_dir)
        print(f"No sessions recorded yet{' that match' if store else ''} ({where}).")
        return EXIT_OK
    units: SpeedUnit = args.units
    table = [("DATE", "WALKER", "PROFILE", "TIME", "DISTANCE", "PEAK", "OUTCOME", "ID")]
    for r in rows:
        table.append(
            (
                _local(r.started_at),
                r.walker_id or "-",
                r.profile_name,
                format_duration(r.totals.duration_s),
                format_distance(r.totals.distance_m, units),
                format_speed(r.totals.peak_speed_kmh, units),
                r.outcome,
                r.session_id[:8],
            )
        )
    print_table(table)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Print one session in full (or as JSON)."""
    record = record_or_exit_code(args.data_dir, args.session)
    if isinstance(record, int):
        return record
    if args.json:
        print(json.dumps(record_json(record), indent=2))
        return EXIT_OK
    _print_record(record, args.units)
    return EXIT_OK


# -- JSON ------------------------------------------------------------------------------------------


def _iso(t: float | None) -> str | None:
    return None if t is None else utc_iso(t)


def row_json(row: SessionRow) -> dict[str, Any]:
    """One history row as JSON (times ISO 8601 UTC; speeds km/h; distances metres)."""
    return {
        "id": row.session_id,
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "walker_id": row.walker_id,
        "profile": row.profile_name,
        "device": row.device_name,
        "outcome": row.outcome,
        "exit_code": row.exit_code,
        "duration_s": round(row.totals.duration_s, 3),
        "distance_m": round(row.totals.distance_m, 3),
        "peak_speed_kmh": row.totals.peak_speed_kmh,
        "totals": row.totals.to_dict(),
        "rating": None
        if row.rating is None
        else {
            "pain": row.rating.pain,
            "effort": row.rating.effort,
            "note": row.rating.note,
            "rated_at": _iso(row.rating.rated_at),
        },
    }


def _segment_json(s: SegmentSummary) -> dict[str, Any]:
    return {
        "index": s.index,
        "name": s.name,
        "direction": s.direction,
        "start": _iso(s.start_t),
        "duration_s": round(s.duration_s, 3),
        "distance_m": round(s.distance_m, 3),
        "target_speed_min_kmh": s.target_speed_min_kmh,
        "target_speed_max_kmh": s.target_speed_max_kmh,
        "avg_speed_kmh": s.avg_speed_kmh,
        "peak_speed_kmh": s.peak_speed_kmh,
        "avg_heart_rate_bpm": s.avg_heart_rate_bpm,
        "peak_heart_rate_bpm": s.peak_heart_rate_bpm,
    }


def _event_json(e: RecordedEvent) -> dict[str, Any]:
    return {"t": _iso(e.t), "kind": e.kind, "name": e.name, "detail": e.detail, "data": e.data}


def record_json(record: SessionRecord) -> dict[str, Any]:
    """A whole session as JSON: the history row plus what was run where, the segments as walked
    and every event (samples are left to ``export --format csv``)."""
    info = record.info
    out = row_json(record.row)
    out.update(
        {
            "profile_sha256": info.profile_sha256,
            "profile_text": info.profile_text,
            "device_address": info.device_address,
            "personality": info.personality,
            "program_version": info.program_version,
            "clinic_config_hash": info.clinic_config_hash,
            "time_scale": info.time_scale,
            "sample_count": len(record.samples),
            "segments": [_segment_json(s) for s in segment_summaries(record.samples)],
            "events": [_event_json(e) for e in record.events],
        }
    )
    return out


# -- text ------------------------------------------------------------------------------------------


def _local(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _speed(kmh: float | None, units: SpeedUnit) -> str:
    return "-" if kmh is None else f"{from_kmh(kmh, units):.2f}"


def _print_record(record: SessionRecord, units: SpeedUnit) -> None:
    info, row, totals = record.info, record.row, record.totals
    label = unit_label(units)
    print(f"Session {info.session_id}")
    print(f"  started    {_local(info.started_at)} ({utc_iso(info.started_at)})")
    ended = _local(row.ended_at) if row.ended_at is not None else "-"
    print(f"  ended      {ended}   outcome: {row.outcome}" + _exit(row.exit_code))
    print(f"  walker     {info.walker_id or '-'}")
    print(f"  profile    {info.profile_name} (sha256 {info.profile_sha256[:12]})")
    device = f"{info.device_name} [{info.device_address}]"
    if info.personality:
        device += f" personality {info.personality}"
    if info.time_scale != 1:
        device += f", time x{info.time_scale:g}"
    print(f"  device     {device}")
    print(f"  version    retro-treadmill {info.program_version}")
    print(f"  clinic     {info.clinic_config_hash[:12] if info.clinic_config_hash else 'defaults'}")
    if row.rating is not None:
        note = f"; note: {row.rating.note}" if row.rating.note else ""
        print(f"  rating     {row.rating.text()}{note}")
    print()
    _print_totals(totals, units)
    segments = segment_summaries(record.samples)
    if segments:
        print()
        table = [
            (
                "#",
                "SEGMENT",
                "DIRECTION",
                "TIME",
                "DISTANCE",
                f"TARGET ({label})",
                f"AVG ({label})",
                f"PEAK ({label})",
                "HR",
            )
        ]
        for s in segments:
            target = _speed(s.target_speed_min_kmh, units)
            if s.target_speed_max_kmh != s.target_speed_min_kmh:
                target += f"-{_speed(s.target_speed_max_kmh, units)}"
            table.append(
                (
                    str(s.index),
                    s.name,
                    s.direction or "-",
                    format_duration(s.duration_s),
                    format_distance(s.distance_m, units),
                    target,
                    _speed(s.avg_speed_kmh, units),
                    _speed(s.peak_speed_kmh, units),
                    "-"
                    if s.peak_heart_rate_bpm is None
                    else f"{s.avg_heart_rate_bpm:.0f}/{s.peak_heart_rate_bpm}",
                )
            )
        print_table(table)
    for title, kinds in (
        ("Alarms", {EventKind.ALARM}),
        ("Operator actions", {EventKind.OPERATOR, EventKind.REMOTE}),
        ("Refused commands", {EventKind.REFUSED}),
        ("Other events", None),
    ):
        chosen = [
            e
            for e in record.events
            if (e.kind in kinds if kinds is not None else e.kind not in _SHOWN_KINDS)
            and e.kind != EventKind.STATE
        ]
        if not chosen:
            continue
        print(f"\n{title}:")
        for e in chosen:
            offset = format_duration(max(e.t - info.started_at, 0.0))
            detail = f": {e.detail}" if e.detail else ""
            print(f"  {offset:>7}  {e.name}{detail}")


_SHOWN_KINDS = {EventKind.ALARM, EventKind.OPERATOR, EventKind.REMOTE, EventKind.REFUSED}


def _exit(code: int | None) -> str:
    return "" if code is None else f" (exit code {code})"


def _print_totals(totals: Totals, units: SpeedUnit) -> None:
    print(
        f"  time {format_duration(totals.duration_s)}: walking backward "
        f"{format_duration(totals.backward_s)}, forward {format_duration(totals.forward_s)}"
    )
    print(
        f"  distance {format_distance(totals.distance_m, units)} "
        f"(backward {format_distance(totals.backward_distance_m, units)})"
    )
    print(
        f"  speed average {format_speed(totals.avg_speed_kmh, units, 2)}, peak "
        f"{format_speed(totals.peak_speed_kmh, units, 2)}; peak incline "
        + ("-" if totals.peak_incline_pct is None else f"{totals.peak_incline_pct:.1f} %")
    )
    if totals.peak_heart_rate_bpm is not None and totals.avg_heart_rate_bpm is not None:
        print(
            f"  heart rate average {totals.avg_heart_rate_bpm:.0f} bpm, "
            f"peak {totals.peak_heart_rate_bpm} bpm"
        )
    print(
        f"  alarms {totals.alarm_count}, operator actions {totals.operator_actions}, "
        f"refused commands {totals.refused_count}"
    )


__all__ = [
    "load_record",
    "open_store",
    "parse_since",
    "record_json",
    "register",
    "row_json",
    "run_list",
    "run_show",
]
