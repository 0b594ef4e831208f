"""``retro-treadmill run``: a guided session on a treadmill (or the built-in virtual one).

Everything given on the command line is checked before anything connects: the clinic config, the
profile (against the effective limits), the options (``--time-scale`` and ``--fault`` only with
``--simulate``), the MQTT settings, the adapter spec and the event log path. Any problem is one
clear error and exit code 2; nothing starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retro_treadmill.config import ClinicConfig, add_config_argument, load_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.records.model import new_session_id
from retro_treadmill.records.paths import add_data_dir_argument
from retro_treadmill.units import SpeedUnit

if TYPE_CHECKING:
    from retro_treadmill.ble.adapter import Adapter
    from retro_treadmill.clock import Clock
    from retro_treadmill.service.session import ExitCode, SessionService
    from retro_treadmill.service.sinks import Recording
    from retro_treadmill.session.profile import Profile
    from retro_treadmill.sim.server import VirtualTreadmill
    from retro_treadmill.telemetry.eventlog import EventLog
    from retro_treadmill.telemetry.settings import MqttSettings
    from retro_treadmill.walker_session import WalkerSelection

EXIT_CODES_HELP = (
    "exit codes: 0 completed, 1 internal error (belt stopped), 2 usage/config error (nothing "
    "started), 3 stopped by the operator (key, MQTT, signal, preflight declined), 4 safety alarm "
    "(belt stopped), 5 treadmill not found or not connectable."
)
KEYS_HELP = (
    "headless keys: Enter/space/s STOP, p pause, c continue (resume, turned around), +/- speed, "
    "a acknowledge alarm; SIGINT/SIGTERM/SIGHUP stop the belt."
)


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a guided backward-walking session (TUI, or --headless)",
        description=(
            "Run a profile on an FTMS treadmill (or on the built-in virtual treadmill with "
            "--simulate) through the safety governor. Opens the terminal UI unless --headless. "
            "The treadmill's own safety key remains THE emergency stop."
        ),
        epilog=f"{KEYS_HELP} {EXIT_CODES_HELP}",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``run`` (``demo`` reuses them)."""
    from retro_treadmill.telemetry.settings import add_cli_arguments

    parser.add_argument("--profile", metavar="NAME|PATH", help="profile name or .toml file")
    parser.add_argument("--device", metavar="ADDR|NAME", help="treadmill address or name")
    parser.add_argument(
        "--adapter",
        default=None,
        metavar="SPEC",
        help="system (default) or bumble:TRANSPORT, e.g. bumble:tcp-client:127.0.0.1:9700",
    )
    parser.add_argument(
        "--simulate",
        nargs="?",
        const="spec",
        default=None,
        metavar="PERSONALITY",
        help="use the in-process virtual treadmill (personality default: spec)",
    )
    parser.add_argument(
        "--hr-device",
        metavar="ADDR|NAME",
        help="heart-rate strap (Heart Rate Service) address or name, on the same adapter; "
        "without it the treadmill's own heart rate is used when it sends one",
    )
    parser.add_argument(
        "--simulate-hr",
        nargs="?",
        const="steady",
        default=None,
        metavar="KIND",
        help="with --simulate: a virtual heart-rate strap 'RetroSim HR' (steady, rising, dropout, "
        "no-contact, disconnect, zero-bursts; KIND@WHEN, e.g. dropout@40s)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a virtual-treadmill fault, e.g. drop-link@40s, or a strap fault with hr., "
        "e.g. hr.drop-link@30s (with --simulate / --simulate-hr; repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random fault times")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        metavar="N",
        help="N session seconds per wall second, at most 20 (only with --simulate)",
    )
    parser.add_argument("--headless", action="store_true", help="no TUI: console progress line")
    parser.add_argument(
        "--yes-preflight",
        action="store_true",
        help="answer the preflight checklist with yes (headless): supervised scripted use only",
    )
    parser.add_argument(
        "--auto-turn-around",
        action="store_true",
        help="headless: confirm each 'turn around' prompt by itself once the belt stands still "
        "(the belt restarts after the countdown without a key press; never after a stop or an "
        "alarm): supervised scripted use only",
    )
    parser.add_argument(
        "--units", choices=("mph", "kmh"), default=None, help="display units (default: profile's)"
    )
    parser.add_argument("--event-log", metavar="PATH", help="append JSON lines of every event")
    add_record_arguments(parser)
    add_config_argument(parser)
    add_cli_arguments(parser)
    from retro_treadmill.walker_session import add_walker_arguments

    add_walker_arguments(parser)


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    """``--no-record``, ``--data-dir``, ``--walker`` (the session records)."""

    parser.add_argument(
        "--no-record",
        action="store_true",
        help="do not keep this session in the session records (kept by default)",
    )
    add_data_dir_argument(parser)
    parser.add_argument(
        "--walker",
        metavar="ID",
        default=None,
        help="who walks (`walkers add`; kept in the record): their caps apply and, without "
        "--profile, their program's current stage runs",
    )


@dataclass
class RunPlan:
    """Everything ``run`` needs, validated before anything connects."""

    config: ClinicConfig
    profile: Profile
    profile_key: str
    units: SpeedUnit
    headless: bool
    yes_preflight: bool
    simulate: str | None
    auto_turn_around: bool = False
    faults: list[str] = field(default_factory=list)
    seed: int = 0
    time_scale: float = 1.0
    device: str | None = None
    adapter: str = "system"
    mqtt: MqttSettings | None = None
    event_log: str | None = None
    record: bool = False
    """Keep the session in the records store (``run``: unless ``--no-record``)."""
    data_dir: str | None = None
    walker: str | None = None
    walker_selection: WalkerSelection | None = None
    """``--walker``: the walker, their caps (already in ``config.limits``) and why this profile."""
    ask_rating: bool = False
    """Ask the walker's rating when the session is over (``--walker`` without ``--no-ask``)."""
    session_id: str = field(default_factory=new_session_id)
    screening_needed: bool = False
    """No screening on record and the TUI will ask it (the form comes before the preflight)."""
    spotter_reason: str = ""
    """Why the preflight's spotter item is required (``""``: not required)."""
    screening_yes: bool = False
    """The screening answered yes somewhere: the physiotherapist's clearance is recommended."""
    hr_device: str | None = None
    simulate_hr: str | None = None


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    """Validate the options, the clinic config and the profile; ConfigError on any problem."""
    from retro_treadmill.ble.adapter import parse_adapter_spec
    from retro_treadmill.clock import check_time_scale
    from retro_treadmill.profiles import load_profile
    from retro_treadmill.sim.faults import parse_fault
    from retro_treadmill.sim.heart import parse_strap_kind
    from retro_treadmill.sim.personalities import get_personality
    from retro_treadmill.sim.strap import parse_strap_fault, split_faults
    from retro_treadmill.telemetry.settings import MqttSettings, settings_from_args, topic_safe_id

    simulate: str | None = args.simulate
    if args.time_scale is not None and simulate is None:
        raise ConfigError(
            "--time-scale works only with the virtual treadmill (--simulate): a real belt does "
            "not speed up with the clock",
            field="time-scale",
        )
    scale = 1.0 if args.time_scale is None else check_time_scale(float(args.time_scale))
    if args.fault and simulate is None:
        raise ConfigError("--fault needs the virtual treadmill (--simulate)", field="fault")
    if simulate is not None and (args.device or args.adapter):
        raise ConfigError(
            "--simulate runs the built-in virtual treadmill; leave out --device and --adapter "
            "(or use `retro-treadmill simulate` and --adapter bumble:tcp-client:HOST:PORT)"
        )
    adapter = args.adapter or "system"
    parse_adapter_spec(adapter)
    treadmill_faults, strap_faults = split_faults(args.fault)
    simulate_hr: str | None = args.simulate_hr
    if simulate_hr is not None:
        if simulate is None:
            raise ConfigError(
                "--simulate-hr is the virtual strap of the virtual treadmill: add --simulate "
                '(or run `retro-treadmill simulate --hr` and use --hr-device "RetroSim HR")',
                field="simulate-hr",
            )
        if args.hr_device:
            raise ConfigError("--simulate-hr and --hr-device: use one strap", field="hr-device")
        parse_strap_kind(simulate_hr)
    if strap_faults and simulate_hr is None:
        raise ConfigError("--fault hr.... needs the virtual strap (--simulate-hr)", field="fault")
    for spec in strap_faults:
        parse_strap_fault(spec)
    if simulate is not None:
        get_personality(simulate)
        for spec in treadmill_faults:
            parse_fault(spec)
    config = load_config(args.config)
    selection = None
    if getattr(args, "walker", None):
        from retro_treadmill.walker_session import select_for_run

        selection = select_for_run(args.walker, args.profile, config, args.data_dir)
        config, profile, profile_key = selection.config, selection.profile, selection.profile_key
    elif not args.profile:
        if args.headless:
            raise ConfigError("--headless needs --profile NAME|PATH (see `profiles list`)")
        raise ConfigError("--profile NAME|PATH is required (see `retro-treadmill profiles list`)")
    else:
        profile, profile_key = load_profile(args.profile, config), args.profile
    units: SpeedUnit = args.units or profile.units
    if args.auto_turn_around and not args.headless:
        raise ConfigError(
            "--auto-turn-around is for headless scripted runs (--headless); in the terminal UI "
            "the operator confirms each turn-around"
        )
    default_id = args.device or ("retrosim" if simulate is not None else "treadmill")
    mqtt = settings_from_args(args, default_id=default_id)
    if mqtt is None and config.mqtt.get("url"):
        treadmill_id = str(config.mqtt.get("treadmill_id") or topic_safe_id(default_id))
        mqtt = MqttSettings.from_url(
            str(config.mqtt["url"]), treadmill_id=treadmill_id, **config.mqtt_options()
        )
    if args.event_log is not None:
        check_event_log_path(args.event_log)
    record = not args.no_record
    if record:
        check_data_dir(args.data_dir)
    walker = args.walker.strip() if args.walker is not None else None
    if args.walker is not None and not walker:
        raise ConfigError("--walker needs an id (leave the option out for none)", field="walker")
    return RunPlan(
        config=config,
        profile=profile,
        profile_key=profile_key,
        units=units,
        headless=bool(args.headless),
        yes_preflight=bool(args.yes_preflight),
        simulate=simulate,
        auto_turn_around=bool(args.auto_turn_around),
        faults=list(args.fault),
        seed=int(args.seed),
        time_scale=scale,
        device=args.device,
        adapter=adapter,
        mqtt=mqtt,
        event_log=args.event_log,
        record=record,
        data_dir=args.data_dir,
        walker=walker,
        walker_selection=selection,
        ask_rating=selection is not None and record and not getattr(args, "no_ask", False),
        hr_device=args.hr_device,
        simulate_hr=simulate_hr,
    )


def check_data_dir(data_dir: str | None) -> None:
    """The records store must be creatable: a clear error at start, not a session that silently
    goes unrecorded (``--no-record`` runs without it)."""
    from retro_treadmill.records.paths import database_path, ensure_private_file

    path = database_path(data_dir)
    try:
        ensure_private_file(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot keep session records in {str(path.parent)!r}: {exc.strerror or exc} "
            "(choose another --data-dir, or run with --no-record)",
            path=str(path),
        ) from None


def recording_for(plan: RunPlan, session_id: str) -> Recording:
    """What the recorder needs to know before the session connects."""
    from retro_treadmill import __version__
    from retro_treadmill.records.model import SessionInfo, sha256_text
    from retro_treadmill.records.paths import database_path
    from retro_treadmill.service.sinks import Recording

    # The text the session's profile was parsed from, not the file as it is now (it may have
    # been edited or removed since): the record says exactly what was prescribed.
    profile_text = plan.profile.text
    config_hash = None
    if plan.config.path is not None:
        with contextlib.suppress(OSError):
            config_hash = sha256_text(Path(plan.config.path).read_text(encoding="utf-8"))
    info = SessionInfo(
        session_id=session_id,
        started_at=0.0,  # set when the session connects
        profile_name=plan.profile.name,
        profile_text=profile_text,
        profile_sha256=sha256_text(profile_text),
        device_name=plan.device or "",
        device_address="",
        program_version=__version__,
        walker_id=plan.walker,
        personality=plan.simulate,
        clinic_config_hash=config_hash,
        time_scale=plan.time_scale,
        units=plan.units,
    )
    return Recording(database_path(plan.data_dir), info)


def check_event_log_path(value: str) -> None:
    """``--event-log PATH`` must name a file we can append to, in a folder that exists (a typo
    in the folder must not scatter logs in new folders nobody looks in); ConfigError otherwise."""
    if not value.strip():
        raise ConfigError(
            "--event-log needs a file path (an empty one would silently log nothing); leave the "
            "option out to run without an event log",
            field="event-log",
        )
    path = Path(value)
    if not path.parent.is_dir():
        raise ConfigError(
            f"cannot write the event log: the folder {str(path.parent)!r} does not exist "
            "(create it first)",
            path=str(path),
        )
    if path.is_dir():
        raise ConfigError("cannot write the event log: this is a folder", path=str(path))
    try:
        path.open("a", encoding="utf-8").close()
    except OSError as exc:
        message = f"cannot write the event log: {exc.strerror or exc}"
        raise ConfigError(message, path=str(path)) from None


def screen(plan: RunPlan, *, ask: Any = None, say: Any = print) -> None:
    """The safety screening, before anything connects (blocking IO, off the event loop): the
    answers on record, else asked on the terminal (headless with a terminal) or by the TUI's
    form; unknown answers (a script) require the spotter item (fail closed)."""
    from retro_treadmill.commands.screening import ask_on_terminal, describe
    from retro_treadmill.records.paths import database_path
    from retro_treadmill.screening import (
        CLEARANCE,
        load_screening,
        save_screening,
        screening_scope,
        spotter_reason,
    )

    db = database_path(plan.data_dir)
    scope = screening_scope(plan.walker)  # each walker is screened on their own
    screening = load_screening(db, scope)
    if screening is None and plan.headless and (ask is not None or sys.stdin.isatty()):
        screening = ask_on_terminal(read=ask or input, write=say)
        if screening is not None:
            screening = dataclasses.replace(screening, scope=scope)
            save_screening(db, screening)
            say(describe(screening))
    if screening is None and not plan.headless:
        # The UI's form comes before the preflight; its answers decide (with the clinic key).
        plan.screening_needed = True
        clinic = plan.config.require_spotter
        plan.spotter_reason = spotter_reason(None, require_spotter=True) if clinic else ""
        return
    plan.screening_yes = screening is not None and screening.any_yes
    plan.spotter_reason = spotter_reason(
        screening, require_spotter=plan.config.require_spotter, walker=plan.walker
    )
    if plan.screening_yes and plan.headless:
        say(CLEARANCE)


FIRST_PATH = ("start-week1", "start-week2", "start-week3")
"""The shipped profiles for a new walker, in order (forward walks with backward minutes)."""

FIRST_USE = (
    "This computer has not run a session yet. A first backward walk is best learnt the way "
    "physiotherapists teach it: a little backward walking mixed into a normal forward walk, "
    "built up over the weeks. {first} is the first week of that path: a 10-minute forward walk "
    "with three 1-minute backward turns at 1.0 mph (then {rest})."
)


def offer_first_profile(
    args: argparse.Namespace, *, ask: Any = None, say: Any = print
) -> str | None:
    """``run`` without ``--profile`` on a machine that never ran a session: explain and offer
    the first profile of :data:`FIRST_PATH` (``ask``: a yes/no question on the terminal). Returns
    the profile to run, or ``None`` (``--profile`` stays required)."""
    from retro_treadmill.records.paths import database_path
    from retro_treadmill.screening import ever_ran

    if args.profile or getattr(args, "walker", None):  # a walker's program picks the profile
        return None
    if ever_ran(database_path(getattr(args, "data_dir", None))):
        return None
    say(FIRST_USE.format(first=FIRST_PATH[0], rest=", ".join(FIRST_PATH[1:])))
    if ask is None:
        say(f"Run it with: retro-treadmill run --profile {FIRST_PATH[0]} ...")
        return None
    try:
        reply = str(ask(f"Start {FIRST_PATH[0]} now? [y/N] ")).strip().lower()
    except EOFError:
        return None
    return FIRST_PATH[0] if reply in ("y", "yes") else None


def run(args: argparse.Namespace) -> int:
    """Validate everything, then run the session; the exit code is the outcome."""
    if not args.profile:
        offered = offer_first_profile(args, ask=input if sys.stdin.isatty() else None)
        if offered is not None:
            args.profile = offered
    plan = plan_from_args(args)
    if plan.walker_selection is not None:
        print(plan.walker_selection.reason, flush=True)
    screen(plan)
    code = int(asyncio.run(run_plan(plan)))
    if plan.ask_rating:
        from retro_treadmill.walker_session import ask_after_session

        ask_after_session(plan.data_dir, plan.session_id)
    return code


@contextlib.asynccontextmanager
async def _virtual_treadmill(
    plan: RunPlan, clock: Clock, log: EventLog
) -> AsyncIterator[tuple[Any, VirtualTreadmill]]:
    from retro_treadmill.ble.radio import VirtualRadio
    from retro_treadmill.sim.server import VirtualTreadmill
    from retro_treadmill.sim.strap import VirtualStrap, split_faults

    treadmill_faults, strap_faults = split_faults(plan.faults)
    async with VirtualRadio() as radio:
        sim = VirtualTreadmill.on_radio(
            radio,
            personality=plan.simulate or "spec",
            clock=clock,
            faults=treadmill_faults,
            seed=plan.seed,
            log=lambda message: log.write("simulator-log", message=message),
        )
        strap = None
        if plan.simulate_hr is not None:
            strap = VirtualStrap.on_radio(
                radio,
                kind=plan.simulate_hr,
                clock=clock,
                belt=lambda: (sim.belt_speed_kmh, sim.incline_pct),
                faults=strap_faults,
                log=lambda message: log.write("simulator-log", message=message),
            )
        await sim.start()
        try:
            if strap is not None:
                await strap.start()
            yield radio, sim
        finally:
            if strap is not None:
                await strap.close()
            log.write(
                "simulator",
                personality=sim.personality.name,
                state=sim.state.value,
                belt_speed_kmh=round(sim.belt_speed_kmh, 3),
                running=sim.running,
                writes=[w.data.hex(" ") for w in sim.writes[-8:]],
            )
            await sim.close()


async def run_plan(plan: RunPlan, *, stdin: Any = None, stdout: Any = None) -> ExitCode:
    """Run a validated plan (also used by ``demo``)."""
    from retro_treadmill.ble.adapter import open_adapter
    from retro_treadmill.clock import MonotonicClock, ScaledClock
    from retro_treadmill.service.session import SessionService
    from retro_treadmill.sim.server import DEFAULT_ADDRESS, DEFAULT_NAME
    from retro_treadmill.sim.strap import STRAP_ADDRESS
    from retro_treadmill.telemetry.eventlog import EventLog

    clock: Clock = ScaledClock(plan.time_scale) if plan.time_scale != 1.0 else MonotonicClock()
    session_id = plan.session_id
    recording = recording_for(plan, session_id) if plan.record else None
    log = (
        EventLog.open(plan.event_log, clock=clock.now)
        if plan.event_log
        else EventLog(clock=clock.now)
    )
    log.write(
        "session",
        profile=plan.profile.name,
        profile_key=plan.profile_key,
        device=plan.device,
        simulate=plan.simulate,
        simulate_hr=plan.simulate_hr,
        hr_device=plan.hr_device,
        faults=plan.faults,
        units=plan.units,
        headless=plan.headless,
        time_scale=plan.time_scale,
        session_id=session_id,
        recorded=str(recording.path) if recording is not None else None,
    )
    # The first line goes to the file now: a log that cannot be written (a full disk,
    # /dev/full) is an error before anything connects, not a session that logs nothing.
    log.flush()
    if log.failed is not None:
        log.close()
        raise ConfigError(
            f"cannot write the event log: {log.failed}", path=str(plan.event_log or "")
        )
    try:
        async with contextlib.AsyncExitStack() as stack:
            adapter_spec: Any = plan.adapter
            target = plan.device
            if plan.simulate is not None:
                radio, _sim = await stack.enter_async_context(_virtual_treadmill(plan, clock, log))
                adapter_spec = radio
                target = DEFAULT_ADDRESS
            adapter: Adapter = await stack.enter_async_context(open_adapter(adapter_spec))
            service = SessionService(
                adapter,
                config=plan.config,
                units=plan.units,
                clock=clock,
                target=target,
                virtual_target=DEFAULT_ADDRESS if plan.simulate is not None else None,
                profile=plan.profile,
                profile_key=plan.profile_key,
                mqtt=plan.mqtt,
                event_log=log,
                recording=recording,
                freeze_gc=True,
                hr_device=STRAP_ADDRESS if plan.simulate_hr is not None else plan.hr_device,
                yield_cpu_when_finished=True,
            )
            if plan.spotter_reason:
                from retro_treadmill.screening import SPOTTER_ITEM

                service.required_items[SPOTTER_ITEM] = plan.spotter_reason
            device_name = DEFAULT_NAME if plan.simulate is not None else (target or "")
            if plan.headless:
                code = await service.serve(_headless(plan, device_name, stdin, stdout))
            else:
                code = await service.serve(_tui(plan, adapter, device_name))
            _report(service, code)
            return code
    finally:
        log.close()


def _device_info(plan: RunPlan, device_name: str) -> Any:
    from retro_treadmill.tui.model import VIRTUAL_TREADMILL, DeviceInfo

    if plan.simulate is not None:
        return VIRTUAL_TREADMILL
    if plan.device:
        return DeviceInfo(name=plan.device, address=plan.device)
    return DeviceInfo(name="first FTMS treadmill in range", address="")


def _profile_info(plan: RunPlan) -> Any:
    from retro_treadmill.tui.model import ProfileInfo

    return ProfileInfo.from_profile(plan.profile, plan.profile_key)


def _records_path(plan: RunPlan) -> Path:
    from retro_treadmill.records.paths import database_path

    return database_path(plan.data_dir)


def _walker_info(plan: RunPlan) -> Any:
    from retro_treadmill.records.walkers import describe_caps
    from retro_treadmill.tui.walker import WalkerInfo

    selection = plan.walker_selection
    if selection is None:
        return None
    stage = selection.stage
    return WalkerInfo(
        walker_id=selection.walker.walker_id,
        caps=describe_caps(selection.walker.caps),
        stage="" if stage is None else f"{stage.program.name}, {stage.text}",
    )


def _headless(plan: RunPlan, device_name: str, stdin: Any, stdout: Any) -> Any:
    from retro_treadmill.service.headless import HeadlessConsole
    from retro_treadmill.tui.checklist import checklist_for

    profile = _profile_info(plan)
    required = {}
    if plan.spotter_reason:
        from retro_treadmill.screening import SPOTTER_ITEM

        required[SPOTTER_ITEM] = plan.spotter_reason
    return HeadlessConsole(
        _device_info(plan, device_name),
        profile,
        checklist=checklist_for(profile, spotter=bool(plan.spotter_reason)),
        required=required,
        yes_preflight=plan.yes_preflight,
        auto_turn_around=plan.auto_turn_around,
        stdin=stdin,
        stdout=stdout,
    )


def _tui(plan: RunPlan, adapter: Adapter, device_name: str) -> Any:
    async def frontend(service: SessionService) -> None:
        from retro_treadmill.ble.discovery import scan
        from retro_treadmill.tui.app import RetroTreadmillApp
        from retro_treadmill.tui.model import VIRTUAL_TREADMILL, DeviceInfo, StopSource
        from retro_treadmill.tui.sources import profile_choices

        async def scanner() -> Sequence[DeviceInfo]:
            found = await scan(adapter, timeout=5.0)
            return [
                DeviceInfo(
                    name=d.name or d.address, address=d.address, rssi_dbm=d.rssi, kind=d.kind
                )
                for d in found
                if d.kind in ("treadmill", "heart-rate")
            ]

        simulated = plan.simulate is not None
        app = RetroTreadmillApp(
            service,
            devices=[VIRTUAL_TREADMILL] if simulated else [],
            scanner=None if simulated else scanner,
            profiles=lambda: profile_choices(plan.config),
            units=plan.units,
            device=_device_info(plan, device_name) if (simulated or plan.device) else None,
            profile=_profile_info(plan),
            walker=_walker_info(plan),
            rate_session=plan.session_id if plan.ask_rating else None,
            records_path=_records_path(plan),
            screening_needed=plan.screening_needed,
            spotter_reason=plan.spotter_reason,
            **screening_callbacks(plan, service),
        )

        def on_signal(name: str) -> None:
            if name == "SIGHUP":
                _let_go_of_the_terminal()

        service.signal_hooks.append(on_signal)
        last_resort: threading.Timer | None = None

        async def exit_on_terminate() -> None:
            nonlocal last_resort
            await service.terminate.wait()
            # Textual restores the terminal on its way out; should that ever block (a terminal
            # that vanished), a thread ends the process: the loop itself may be the one stuck.
            last_resort = threading.Timer(UI_EXIT_GRACE_S, _exit_now, args=(service,))
            last_resort.daemon = True
            last_resort.start()
            app.exit()

        watcher = asyncio.create_task(exit_on_terminate(), name="tui-terminate")
        try:
            await app.run_async()
        finally:
            if last_resort is not None:
                last_resort.cancel()
            service.stop(StopSource.UI_EXIT)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if app.return_code:
            service.stop(StopSource.UI_EXCEPTION)

    return frontend


def screening_callbacks(plan: RunPlan, service: SessionService) -> dict[str, Any]:
    """The TUI's screening hooks: ``on_screening`` keeps the form's answers (in a thread: it
    only writes the store and returns the spotter reason), ``on_screening_kept`` applies that
    reason to the plan and the service's required items on the event loop, where ``start()``
    reads them."""
    return {
        "on_screening": lambda answers: _save_screening(plan, answers),
        "on_screening_kept": lambda reason: _apply_spotter(plan, service, reason),
    }


def _save_screening(plan: RunPlan, answers: Any) -> str:
    """Keep the form's answers (blocking IO, in a thread) as the walker's (or the machine's);
    the spotter reason they give. Touches nothing the event loop reads."""
    from retro_treadmill.records.paths import database_path
    from retro_treadmill.screening import save_screening, screening_scope, spotter_reason

    answers = dataclasses.replace(answers, scope=screening_scope(plan.walker))
    save_screening(database_path(plan.data_dir), answers)
    return spotter_reason(answers, require_spotter=plan.config.require_spotter)


def _apply_spotter(plan: RunPlan, service: SessionService, reason: str) -> None:
    """The kept screening's spotter reason, on the event loop: the preflight's spotter item."""
    from retro_treadmill.screening import SPOTTER_ITEM

    plan.spotter_reason = reason
    plan.screening_needed = False
    if reason:
        service.required_items[SPOTTER_ITEM] = reason
    else:
        service.required_items.pop(SPOTTER_ITEM, None)


UI_EXIT_GRACE_S = 5.0
"""How long the UI may take to close once the session asked it to, before the process exits."""


def _let_go_of_the_terminal() -> None:
    """The terminal went away (SIGHUP): send the UI's output to /dev/null so that closing it
    (which writes terminal-restore sequences) cannot block on a dead terminal."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _exit_now(service: SessionService) -> None:
    """Last resort from a timer thread: the belt was stopped before the session asked the UI to
    close; the process must not linger with a UI that cannot close."""
    code = service.exit_code
    logging.getLogger(__name__).error("the UI did not close in %.0f s; exiting", UI_EXIT_GRACE_S)
    with contextlib.suppress(Exception):  # what the log holds so far reaches the file
        service.log.write("exit", reason=f"the UI did not close in {UI_EXIT_GRACE_S:g} s")
        service.log.flush()
    os._exit(int(code) if int(code) else 1)


def _report(service: SessionService, code: ExitCode) -> None:
    from retro_treadmill.service.session import ExitCode

    if code is ExitCode.NO_DEVICE and service.no_device:
        print(f"retro-treadmill: error: {service.no_device}", file=sys.stderr)
    elif code in (ExitCode.USAGE, ExitCode.INTERNAL_ERROR) and service.error:
        what = "error" if code is ExitCode.USAGE else "internal error (belt stopped)"
        print(f"retro-treadmill: {what}: {service.error}", file=sys.stderr)
    for warning in service.warnings:
        print(f"retro-treadmill: warning: {warning}", file=sys.stderr)
    recorder = service.recorder
    if recorder is not None and recorder.failed is None and service.recording is not None:
        info = service.recording.info
        short = info.session_id[:8]
        print(f"Session recorded: {info.session_id} (retro-treadmill history show {short})")


__all__ = [
    "FIRST_PATH",
    "RunPlan",
    "add_arguments",
    "offer_first_profile",
    "plan_from_args",
    "register",
    "run",
    "run_plan",
    "screen",
]
