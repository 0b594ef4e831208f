"""``run --walker ID``: the walker's caps, the profile their program gives, and their rating at
the end, as plain functions ``run`` calls before anything connects and after the session.

- :func:`select_for_run` reads the walker from the store, tightens the clinic's limits with the
  walker's caps (:func:`~retro_treadmill.records.walkers.effective_limits`; the service and the
  governor then run under them), picks the profile (``--profile`` if given, else the stage the
  walker's program gives, with the reason) and checks it against the walker's caps, naming the
  walker's cap when it is above them.
- :func:`rate_session` asks the walker's rating (pain, effort, note) and saves it with the
  session (``--no-ask`` skips it).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retro_treadmill.commands.rate import terminal_ask
from retro_treadmill.config import ClinicConfig
from retro_treadmill.errors import ConfigError
from retro_treadmill.profiles import load_profile
from retro_treadmill.programs import choose_for_walker, stage_profile_path
from retro_treadmill.records.paths import add_data_dir_argument, database_path
from retro_treadmill.records.progression import StageChoice
from retro_treadmill.records.ratings import Rating, ask_rating
from retro_treadmill.records.store import Store, StoreError, WalkerNotFound
from retro_treadmill.records.walkers import Walker, WalkerError, effective_limits
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.session.profile import Profile, check_profile
from retro_treadmill.units import from_kmh, unit_label

_EPS = 1e-6


def add_walker_arguments(parser: argparse.ArgumentParser) -> None:
    """``--walker ID``, ``--no-ask`` and ``--data-dir DIR`` on ``run`` (each only if the parser
    does not have it yet: the recorder's wiring adds ``--walker`` and ``--data-dir`` too)."""

    def add(*names: str, **options: object) -> None:
        # Already there (same name, same meaning): argparse refuses the duplicate; keep the first.
        with contextlib.suppress(argparse.ArgumentError):
            parser.add_argument(*names, **options)  # type: ignore[arg-type]

    add(
        "--walker",
        metavar="ID",
        default=None,
        help="the walker (`walkers add`): their caps apply and, without --profile, their "
        "program's current stage runs",
    )
    add(
        "--no-ask",
        action="store_true",
        help="do not ask the walker's rating (pain, effort, note) at the end",
    )
    with contextlib.suppress(argparse.ArgumentError):
        add_data_dir_argument(parser)


@dataclass(frozen=True, slots=True)
class WalkerSelection:
    """What ``run --walker`` decided before connecting."""

    walker: Walker
    config: ClinicConfig
    """The clinic config with ``limits`` tightened by the walker's caps."""
    profile: Profile
    profile_key: str
    reason: str
    """One line for the operator: which profile and why."""
    stage: StageChoice | None = None


def _open(data_dir: str | None) -> Store:
    path = database_path(data_dir)
    if not path.exists():
        raise WalkerNotFound(f"no walkers yet in {path} (add one with `walkers add ID`)")
    return Store.open(path)


def select_for_run(
    walker_id: str,
    profile_arg: str | None,
    config: ClinicConfig,
    data_dir: str | None,
) -> WalkerSelection:
    """The walker, their effective limits, the profile to run and why; :class:`ConfigError`
    (exit 2, nothing starts) for an unknown or archived walker, a walker without a program and
    no ``--profile``, or a profile above the walker's caps."""
    try:
        with _open(data_dir) as store:
            walker = store.walker(walker_id)
            choice = choose_for_walker(store, walker, config) if walker.program else None
    except WalkerNotFound as error:
        raise ConfigError(str(error), field="walker") from None
    if walker.archived:
        raise ConfigError(
            f"walker {walker_id} is archived; `walkers archive {walker_id} --undo` brings them "
            "back",
            field="walker",
        )
    try:
        limits = effective_limits(config.limits, walker)
    except WalkerError as error:
        raise ConfigError(str(error), field="walker") from None
    walker_config = dataclasses.replace(config, limits=limits)
    if profile_arg is not None:
        key = profile_arg
        reason = f"walker {walker_id}: {key}, the profile chosen with --profile"
        if choice is not None:
            reason += f" (the program {choice.program.name} would run {choice.stage.profile}: "
            reason += f"{choice.text})"
    elif choice is not None:
        key = str(stage_profile_path(choice.program, choice.stage.profile, config))
        if "/" not in choice.stage.profile and not choice.stage.profile.endswith(".toml"):
            key = choice.stage.profile
        reason = f"walker {walker_id}: {choice.program.name}, {choice.text} -> {key}"
    else:
        raise ConfigError(
            f"walker {walker_id} has no program: give --profile NAME|PATH, or a program with "
            f"`walkers edit {walker_id} --program NAME`",
            field="profile",
        )
    # The clinic's limits first (their message names the clinic's caps), then the walker's.
    profile = load_profile(key, config)
    check_against_walker(profile, walker, limits)
    return WalkerSelection(walker, walker_config, profile, key, reason, choice)


def check_against_walker(profile: Profile, walker: Walker, limits: SafetyLimits) -> None:
    """Refuse a profile above the walker's speed or incline cap, naming the walker's cap and the
    first segment above it; then check the rest against the walker-tightened ``limits`` (the
    start speed under a lower speed cap)."""
    caps = walker.caps
    units = profile.units
    for segment in profile.segments:
        if caps.max_speed_kmh is not None and segment.max_speed_kmh > caps.max_speed_kmh + _EPS:
            raise ConfigError(
                f"speed {from_kmh(segment.max_speed_kmh, units):.2f} {unit_label(units)} is above "
                f"walker {walker.walker_id}'s cap {from_kmh(caps.max_speed_kmh, units):.2f} "
                f"{unit_label(units)} (`walkers show {walker.walker_id}`); pick a slower profile, "
                "or change the walker's cap with `walkers edit`",
                path=profile.source,
                where=segment.label,
                field="speed",
            )
        if (
            caps.max_incline_pct is not None
            and segment.max_incline_pct > caps.max_incline_pct + _EPS
        ):
            raise ConfigError(
                f"incline {segment.max_incline_pct:g} % is above walker {walker.walker_id}'s cap "
                f"{caps.max_incline_pct:g} % (`walkers show {walker.walker_id}`)",
                path=profile.source,
                where=segment.label,
                field="incline",
            )
    try:
        check_profile(profile, limits)
    except ConfigError as error:
        raise ConfigError(
            f"{error.detail} (under walker {walker.walker_id}'s caps)",
            path=error.path,
            where=error.where,
            field=error.field,
        ) from None


def rate_session(
    db_path: Path,
    session_id: str,
    ask: Callable[[str], str | None],
    tell: Callable[[str], None],
    *,
    now: Callable[[], float] = time.time,
) -> Rating:
    """Ask the walker's rating of the session that just ended and save it with the session
    (blocking IO: call it after the session, off the event loop)."""
    tell("How was it? (pain and effort help the clinician and the program's next step)")
    rating = ask_rating(ask, tell, rated_at=now())
    if not rating.empty:
        with Store.open(db_path) as store:
            store.rate(store.resolve(session_id), rating)
        tell(f"Saved: {rating.text()}")
    return rating


def ask_after_session(data_dir: str | None, session_id: str) -> Rating | None:
    """After ``run --walker``, once the event loop is gone (the headless console no longer reads
    stdin): ask the rating on the terminal and save it with the session. Nothing is asked when
    the session was not recorded (it never started: no treadmill, a refused profile) or was
    rated already (the terminal UI's form)."""
    path = database_path(data_dir)
    try:
        with Store.open(path, create=False) as store:
            rated = store.load(store.resolve(session_id)).row.rating
    except StoreError:  # no store, or no such session
        return None
    if rated is not None:  # rated already (the terminal UI's form)
        return rated
    return rate_session(path, session_id, terminal_ask, lambda text: print(text, flush=True))


__all__ = [
    "WalkerSelection",
    "add_walker_arguments",
    "ask_after_session",
    "check_against_walker",
    "rate_session",
    "select_for_run",
]
