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
from retro_treadmill.units import SpeedUnit

if TYPE_CHECKING:
    from retro_treadmill.ble.adapter import Adapter
    from retro_treadmill.clock import Clock
    from retro_treadmill.service.session import ExitCode, SessionService
    from retro_treadmill.session.profile import Profile
    from retro_treadmill.sim.server import VirtualTreadmill
    from retro_treadmill.telemetry.eventlog import EventLog
    from retro_treadmill.telemetry.settings import MqttSettings

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
        help="N session seconds per wall second (only with --simulate)",
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
    add_config_argument(parser)
    add_cli_arguments(parser)


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
    hr_device: str | None = None
    simulate_hr: str | None = None


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    """Validate the options, the clinic config and the profile; ConfigError on any problem."""
    from retro_treadmill.ble.adapter import parse_adapter_spec
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
    scale = 1.0 if args.time_scale is None else float(args.time_scale)
    if not scale > 0 or scale > 1000:
        raise ConfigError(f"--time-scale must be > 0 and <= 1000, got {args.time_scale}")
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
    if not args.profile:
        if args.headless:
            raise ConfigError("--headless needs --profile NAME|PATH (see `profiles list`)")
        raise ConfigError("--profile NAME|PATH is required (see `retro-treadmill profiles list`)")
    profile = load_profile(args.profile, config)
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
    if args.event_log:
        path = Path(args.event_log)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.open("a", encoding="utf-8").close()
        except OSError as exc:
            raise ConfigError(f"cannot write the event log: {exc}", path=str(path)) from None
    return RunPlan(
        config=config,
        profile=profile,
        profile_key=args.profile,
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
        hr_device=args.hr_device,
        simulate_hr=simulate_hr,
    )


def run(args: argparse.Namespace) -> int:
    """Validate everything, then run the session; the exit code is the outcome."""
    plan = plan_from_args(args)
    return int(asyncio.run(run_plan(plan)))


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
                freeze_gc=True,
                hr_device=STRAP_ADDRESS if plan.simulate_hr is not None else plan.hr_device,
            )
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


def _headless(plan: RunPlan, device_name: str, stdin: Any, stdout: Any) -> Any:
    from retro_treadmill.service.headless import HeadlessConsole
    from retro_treadmill.tui.screens.preflight import checklist_for

    profile = _profile_info(plan)
    return HeadlessConsole(
        _device_info(plan, device_name),
        profile,
        checklist=checklist_for(profile),
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


__all__ = ["RunPlan", "add_arguments", "plan_from_args", "register", "run", "run_plan"]
