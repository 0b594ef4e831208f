"""``retro-treadmill history rate ID``: the walker's rating of a session (pain 0-10, Borg CR10
effort, a note), given as options or asked one question at a time.

Options change only what they name (``--note ""`` clears the note); without any, the three
questions are asked on the terminal (the same prompts as at the end of a headless session).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

from retro_treadmill.records.paths import add_data_dir_argument, database_path
from retro_treadmill.records.ratings import (
    Rating,
    RatingError,
    ask_rating,
    check_note,
    parse_effort,
    parse_pain,
)
from retro_treadmill.records.store import SessionNotFound, Store, StoreError

EXIT_OK = 0
EXIT_STORE = 1
EXIT_USAGE = 2


def add_parser(actions: Any, epilog: str) -> None:
    """``history rate`` (registered by :mod:`retro_treadmill.commands.history`)."""
    rate: argparse.ArgumentParser = actions.add_parser(
        "rate",
        help="rate a session: pain 0-10, effort (Borg CR10), a note",
        description="Save or change the walker's rating of a session. Without options the "
        "questions are asked one by one.",
        epilog=epilog,
    )
    rate.add_argument("session", metavar="ID", help="a session id or a unique prefix of one")
    rate.add_argument("--pain", metavar="N", help="pain, 0 (none) to 10 (worst imaginable)")
    rate.add_argument("--effort", metavar="X", help="effort, Borg CR10 0-10 in steps of 0.5")
    rate.add_argument("--note", metavar="TEXT", help="a free note ('' clears it)")
    add_data_dir_argument(rate)
    rate.set_defaults(handler=run_rate)


def terminal_ask(question: str) -> str | None:
    """``input(question)``; ``None`` at the end of input."""
    try:
        return input(question)
    except EOFError:
        return None


def run_rate(args: argparse.Namespace) -> int:
    """Save the rating."""
    path = database_path(args.data_dir)
    try:
        if not path.exists():
            raise SessionNotFound(f"no session {args.session!r}: nothing recorded yet in {path}")
        with Store.open(path) as store:
            session_id = store.resolve(args.session)
            row = store.load(session_id).row
            old = row.rating or Rating()
            if args.pain is None and args.effort is None and args.note is None:
                print(f"Rating session {session_id[:8]} ({row.profile_name}):")
                rating = ask_rating(
                    terminal_ask, lambda text: print(text, file=sys.stderr), rated_at=time.time()
                )
            else:
                changes: dict[str, Any] = {"rated_at": time.time()}
                if args.pain is not None:
                    changes["pain"] = parse_pain(args.pain)
                if args.effort is not None:
                    changes["effort"] = parse_effort(args.effort)
                if args.note is not None:
                    changes["note"] = check_note(args.note)
                rating = dataclasses.replace(old, **changes)
            store.rate(session_id, rating)
    except (SessionNotFound, RatingError) as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as error:
        print(f"retro-treadmill: error: {error}", file=sys.stderr)
        return EXIT_STORE
    note = f"; note: {rating.note}" if rating.note else ""
    print(f"Session {session_id[:8]}: {rating.text()}{note}")
    return EXIT_OK


__all__ = ["add_parser", "run_rate", "terminal_ask"]
