"""The headless console front end of the session service (``run --headless``, ``demo`` without a
terminal).

Flow: connect; the preflight questions on stdin (each answered ``y``), or ``--yes-preflight`` for
supervised scripted use; the 5 s countdown; a live progress line (state, segment, target and belt
speed in ``--units``, incline, elapsed and remaining time); alarms and prompts as they come.

Keys (with a terminal: single keys, cbreak mode; otherwise one line each, Enter to send):

=======================  =====================================================================
Enter, space, ``s``      STOP the belt (the session ends)
``p``                    pause (belt to a standstill)
``c``                    continue: resume after a pause, confirm a "turn around" prompt, let a
                         ramp slowed for a lost heart rate go on (the heart rate is back)
``+`` / ``-``            speed +/- 0.1 mph (or 0.1 km/h with ``--units kmh``), via the governor
``a``                    acknowledge the alarm (the belt stays stopped)
=======================  =====================================================================

A "turn around" prompt (between forward and backward segments) waits for ``c`` with the belt
stopped. ``--auto-turn-around`` (a separate, explicit choice for supervised scripted runs, e.g.
an interval mix) confirms it by itself once the belt stands still; never after an operator stop or
pause, and never once an alarm has been raised since the session last walked.

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop the belt too (the service handles them); a second signal
leaves at once (the Stop has been written).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty
from collections.abc import Mapping, Sequence
from typing import IO

from retro_treadmill.errors import StartRefused
from retro_treadmill.service.session import SessionService, StopOrigin
from retro_treadmill.telemetry.writer import ThreadedWriter
from retro_treadmill.tui.format import preflight_heart_rate
from retro_treadmill.tui.model import (
    DeviceInfo,
    HeartRateView,
    ProfileInfo,
    SessionSnapshot,
    SessionState,
)
from retro_treadmill.units import format_speed, mph_to_kmh

OUTPUT_DRAIN_S = 2.0
"""At the end, how long the console waits for its output to be taken."""
STOP_KEYS = frozenset({"", " ", "s", "S", "q", "Q", "\n", "\r", "\x1b"})


def _clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def progress_line(snap: SessionSnapshot) -> str:
    """One line of progress: state, segment, target/actual speed, incline, elapsed/remaining."""
    units = snap.units
    parts = [f"{snap.state.value:<9}"]
    if snap.state is SessionState.COUNTDOWN and snap.countdown_s is not None:
        parts.append(f"starting in {snap.countdown_s:4.1f} s")
    if snap.segment_index is not None and snap.segment_count:
        parts.append(f"{snap.segment_index + 1}/{snap.segment_count} {snap.segment_name}")
    parts.append(
        f"target {format_speed(snap.target_speed_kmh, units)} "
        f"belt {format_speed(snap.speed_kmh, units)}"
    )
    if snap.incline_pct is not None:
        parts.append(f"incline {snap.incline_pct:.1f} %")
    parts.append(f"elapsed {_clock_text(snap.elapsed_s)} left {_clock_text(snap.remaining_s)}")
    hr = snap.heart_rate
    if hr is not None:
        parts.append(heart_rate_text(hr))
    if snap.link.value not in ("connected",):
        parts.append(f"link {snap.link.value}")
    return " | ".join(parts)


def heart_rate_text(hr: HeartRateView) -> str:
    """The heart rate for the progress line: value and source, or the lost signal's countdowns."""
    if hr.lost:
        text = "HEART RATE LOST"
        if hr.slow_in_s is not None:
            text += f", slowing in {hr.slow_in_s:.0f} s"
        if hr.stop_in_s is not None:
            text += f", stop in {hr.stop_in_s:.0f} s"
        return text
    value = f"{hr.bpm} bpm" if hr.bpm is not None and hr.live else "-- bpm"
    return f"HR {value} ({hr.source or 'no source'})" + (
        " slowed: c continues" if hr.slowed else ""
    )


class _Input:
    """Keys or lines from stdin without blocking the event loop (``loop.add_reader``)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.available = False
        self.tty = False
        self._fd: int | None = None
        self._saved: list[object] | None = None
        self._buffer = ""
        self._cbreak = False
        if stream is None:
            return
        try:
            fd = stream.fileno()
        except (OSError, ValueError):
            return
        self.tty = os.isatty(fd)
        try:
            asyncio.get_running_loop().add_reader(fd, self._on_readable)
        except (OSError, ValueError, NotImplementedError):
            return  # e.g. /dev/null or a regular file: no keyboard here
        self._fd = fd
        self.available = True

    def cbreak(self) -> None:
        """Single keys from a terminal (restored by :meth:`close`)."""
        if self._fd is None or not self.tty or self._cbreak:
            return
        with contextlib.suppress(termios.error):
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
            # Ctrl+S (XOFF) would suspend the terminal's output, and the progress lines with it;
            # a key for the session (or nothing), not a frozen screen.
            mode = termios.tcgetattr(self._fd)
            mode[0] &= ~termios.IXON
            termios.tcsetattr(self._fd, termios.TCSANOW, mode)
            self._cbreak = True

    def _on_readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # end of input: no more keys (a script's stdin); nothing is implied
            self._detach()
            return
        text = data.decode("utf-8", "replace")
        if self._cbreak:
            for char in text:
                self.queue.put_nowait(char)
            return
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self.queue.put_nowait(line.strip())

    def _detach(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
        self.available = False

    def close(self) -> None:
        """Stop reading and restore the terminal."""
        self._detach()
        if self._fd is not None and self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)  # type: ignore[arg-type]
        self._fd = None


class HeadlessConsole:
    """Drives a :class:`SessionService` from the console (see the module docstring)."""

    def __init__(
        self,
        device: DeviceInfo,
        profile: ProfileInfo,
        *,
        checklist: Sequence[str],
        yes_preflight: bool = False,
        auto_turn_around: bool = False,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        refresh_s: float = 0.25,
        quiet_refresh_s: float = 5.0,
        required: Mapping[str, str] | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.required = dict(required or {})
        """Checklist items Start needs, with why (the spotter item)."""
        self.notes = tuple(notes)
        """Said before the checklist (e.g. the physiotherapist's clearance advice)."""
        self.device = device
        self.profile = profile
        self.checklist = tuple(checklist)
        self.yes_preflight = yes_preflight
        self.auto_turn_around = auto_turn_around
        self.stdin = stdin if stdin is not None else sys.stdin
        self.out = stdout if stdout is not None else sys.stdout
        self.live = self.out.isatty()
        self._writer = ThreadedWriter(self.out, name="headless-output")
        """Everything shown goes through this thread: a terminal paused with Ctrl+S, or a pipe
        nobody reads (``| less`` left on a page), must not hold up the event loop and its stop
        path. A progress line is left out while earlier output still waits."""
        self.refresh_s = refresh_s
        self.quiet_refresh_s = quiet_refresh_s
        self._input: _Input | None = None
        self._line_open = False
        self._shown_alarm: int | None = None
        self._shown_hr_lost = False
        self._shown_prompt = ""
        self._shown_cue = ""
        self._shown_rejection: int | None = None
        self._shown_warnings = 0
        self._shown_key: tuple[object, ...] | None = None
        self._last_print = 0.0

    # -- output ------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Print a full line (ending the live progress line first)."""
        if self._line_open:
            self._writer.write("\n")
            self._line_open = False
        self._writer.write(text + "\n")

    def _progress(self, snap: SessionSnapshot, now: float) -> None:
        line = progress_line(snap)
        if self.live:
            width = max(40, os.get_terminal_size(self.out.fileno()).columns - 1)
            self._writer.write("\r" + line[:width].ljust(width), droppable=True)
            self._line_open = True
            return
        key = (snap.state, snap.segment_index, snap.target_speed_kmh)
        if key != self._shown_key or now - self._last_print >= self.quiet_refresh_s:
            self._shown_key = key
            self._last_print = now
            self.say(line)

    def _events(self, snap: SessionSnapshot) -> None:
        hr = snap.heart_rate
        lost = hr is not None and hr.lost
        if lost != self._shown_hr_lost:
            self._shown_hr_lost = lost
            if hr is not None and lost:
                bell = "\a" if self.live else ""
                self.say(f"{bell}WARNING: HEART RATE LOST ({hr.lost_reason}); no increases")
            elif hr is not None:
                self.say(f"heart rate back: {hr.bpm} bpm ({hr.source})")
        alarm = snap.alarm
        if alarm is not None and alarm.seq != self._shown_alarm:
            self._shown_alarm = alarm.seq
            bell = "\a" if self.live else ""
            self.say(f"{bell}ALARM ({alarm.kind.value}): {alarm.message}")
        # The countdown repeats the straddle instruction of the preflight (same words, said again).
        prompt_key = f"{snap.state is SessionState.COUNTDOWN}{snap.prompt}"
        if snap.prompt and prompt_key != self._shown_prompt:
            self._shown_prompt = prompt_key
            self.say(f">> {snap.prompt}")
        if snap.cue and snap.cue != self._shown_cue:
            self._shown_cue = snap.cue
            self.say(f"   ({snap.cue})")
        rejection = snap.last_rejection
        if rejection is not None and rejection.seq != self._shown_rejection:
            self._shown_rejection = rejection.seq
            self.say(f"refused: {rejection.request}: {rejection.reason}")
        for warning in snap.warnings[self._shown_warnings :]:
            self.say(f"WARNING: {warning}; the session goes on")
        self._shown_warnings = max(self._shown_warnings, len(snap.warnings))

    # -- the session ---------------------------------------------------------------------------

    async def __call__(self, service: SessionService) -> None:
        """The front end: prepare, preflight, start, watch until the session is over."""
        self._input = _Input(self.stdin)
        try:
            await self._run(service)
        finally:
            self._input.close()
            if self._line_open:
                self._writer.write("\n")
                self._line_open = False
            # What was said reaches the screen before the run's summary (bounded: a reader that
            # never reads must not keep the process).
            await asyncio.shield(asyncio.to_thread(self._writer.close, OUTPUT_DRAIN_S))

    async def _run(self, service: SessionService) -> None:
        assert self._input is not None
        self.say(f"Connecting to {self.device.name} ...")
        await service.prepare(self.device, self.profile)
        snap = service.snapshot
        self.say(
            f"Connected to {snap.device_name}. Profile '{self.profile.name}': "
            f"{_clock_text(self.profile.duration_s)}, "
            f"{format_speed(self.profile.speed_min_kmh, snap.units)} to "
            f"{format_speed(self.profile.speed_max_kmh, snap.units)}."
        )
        self._show_speed_plan(service)
        if not await self._preflight(service):
            return
        self._input.cbreak()
        keys = "Enter/space/s = STOP, p = pause, c = continue, +/- = speed, a = acknowledge"
        self.say(f"Keys: {keys}" if self._input.available else "No keyboard: stop with Ctrl-C.")
        earlier = service.snapshot.last_rejection
        # Prompts as they change (the straddle start's "wait" may last only a moment at x10),
        # not only when the progress loop next looks.
        follower = asyncio.create_task(self._follow(service), name="headless-prompts")
        try:
            await self._watch(service, earlier)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _follow(self, service: SessionService) -> None:
        async for snap in service.snapshots():
            self._events(snap)

    async def _watch(self, service: SessionService, earlier: object) -> None:
        assert self._input is not None
        step = mph_to_kmh(0.1) if service.units == "mph" else 0.1
        service.start(self.checklist)
        loop = asyncio.get_running_loop()
        stop_deadline: float | None = None
        while not service.terminate.is_set():
            snap = service.snapshot
            self._events(snap)
            rejection = snap.last_rejection
            if (
                snap.state in (SessionState.IDLE, SessionState.PREFLIGHT)
                and rejection is not None
                and rejection != earlier
                and rejection.request == "start"
            ):
                # Nobody here can press Start again (and a later start by itself would surprise
                # whoever stands on the deck): end, saying why (exit code 2).
                self.say("Nothing started.")
                raise StartRefused(rejection.reason)
            self._progress(snap, loop.time())
            if service.session_over():
                break
            if service.stop_requested and stop_deadline is None:
                limits = service.config.limits
                scale = float(getattr(service.clock, "scale", 1.0)) or 1.0
                stop_deadline = loop.time() + (limits.stop_confirm_timeout_s + 2.0) / scale + 2.0
            if stop_deadline is not None and loop.time() > stop_deadline:
                self.say(
                    "The belt did not confirm the stop in time. PULL THE SAFETY KEY if moving."
                )
                break
            self._auto_confirm(service)
            await self._wait_input(service, step)
        snap = service.snapshot
        self._events(snap)
        self._progress(snap, loop.time())
        self.say(self._summary(service))

    def _auto_confirm(self, service: SessionService) -> None:
        """``--auto-turn-around``: confirm a "turn around" prompt once the belt stands still;
        not after an operator stop or pause, nor after an alarm since the session last walked
        (an alarm acknowledged during the turn-around pause must not lead to a restart)."""
        engine = service.engine
        if not self.auto_turn_around or engine is None or service.stop_requested:
            return
        if service.alarm_seen or service.operator_paused:
            return
        status = engine.status(service.clock.now())
        if status.state.value == "paused" and status.turn_around and status.standstill:
            self.say("(--auto-turn-around) turned around: continuing.")
            # Through the session's event stream, with who did it: the event log, the records
            # store and MQTT all see "--auto-turn-around", not an operator's resume.
            service.resume(by="--auto-turn-around")

    async def _wait_input(self, service: SessionService, step: float) -> None:
        assert self._input is not None
        try:
            async with asyncio.timeout(self.refresh_s):
                key = await self._input.queue.get()
        except TimeoutError:
            return
        self._key(service, key, step)

    def _key(self, service: SessionService, key: str, step: float) -> None:
        if key in STOP_KEYS or key.lower() in ("stop", "s"):
            self.say("STOP")
            service.stop(StopOrigin.KEYBOARD)
        elif key in ("p", "P"):
            service.pause()
        elif key in ("c", "C"):
            service.resume()
        elif key in ("+", "="):
            service.adjust_speed(step)
        elif key in ("-", "_"):
            service.adjust_speed(-step)
        elif key in ("a", "A"):
            service.acknowledge_alarm()

    async def _ask(self, service: SessionService, question: str) -> bool:
        """A yes/no question on stdin; ``False`` as well when a stop (a signal, MQTT) comes
        while it waits, or the input ends."""
        assert self._input is not None
        self._writer.write(f"{question} [y/N] ")
        while self._input.available or not self._input.queue.empty():
            if service.stop_requested or service.terminate.is_set():
                self.say("")
                return False
            try:
                async with asyncio.timeout(self.refresh_s):
                    answer = await self._input.queue.get()
            except TimeoutError:
                continue
            return answer.strip().lower() in ("y", "yes")
        self.say("")
        return False

    def _show_speed_plan(self, service: SessionService) -> None:
        """Before the preflight: the speeds this treadmill really runs beside the prescription.
        A profile it cannot run ends here (exit 2, with the way forward); a difference above
        0.05 mph becomes one more checklist item to accept (``--yes-preflight`` accepts it)."""
        plan = service.speed_plan
        if plan is None:
            return
        self.say(f"Speeds on this treadmill (its steps: {plan.step_kmh:g} km/h):")
        for line in plan.lines(service.units):
            self.say(f"  {line}")
        if plan.refusal:
            self.say("Nothing started.")
            raise StartRefused(plan.refusal)
        if plan.needs_acceptance:
            item = plan.acceptance_item(service.units)
            if item not in self.checklist:
                self.checklist = (*self.checklist, item)

    async def _preflight(self, service: SessionService) -> bool:
        self._events(service.snapshot)  # the straddle start: where to stand before anything moves
        for item, reason in self.required.items():
            self.say(f"Required: '{item}' because {reason}.")
        for note in self.notes:
            self.say(note)
        hr = service.snapshot.heart_rate
        if hr is not None:
            self.say(preflight_heart_rate(hr))
        self.say("Preflight checklist:")
        if self.yes_preflight:
            for item in self.checklist:
                self.say(f"  [x] {item}  (--yes-preflight)")
            return True
        for item in self.checklist:
            if not await self._ask(service, f"  {item}?"):
                if service.stop_requested:
                    self.say(f"Stopped ({service.stop_requested}): nothing started.")
                    return False
                if item in self.required:
                    self.say(f"Start refused: '{item}' must be ticked: {self.required[item]}.")
                self.say("Preflight not confirmed: nothing started.")
                service.stop(StopOrigin.OPERATOR, detail="preflight declined")
                return False
        return True

    def _summary(self, service: SessionService) -> str:
        code = service.exit_code
        snap = service.snapshot
        belt = format_speed(snap.speed_kmh, snap.units)
        # "stopped" only when telemetry shows it (below 0.1 km/h); else the last known speed.
        if snap.speed_kmh is not None and snap.speed_kmh < 0.1:
            stopped, done = "the belt was stopped", "the belt is stopped"
        else:
            stopped = f"the belt was last seen at {belt}: if it moves, PULL THE SAFETY KEY"
            done = stopped
        text = {
            0: f"Session complete; {done}.",
            1: f"Internal error; {stopped}: {service.error}",
            2: f"Not started: {service.error}",
            3: "Session stopped by the operator.",
            4: f"Session ended by a safety alarm; {stopped}.",
            5: f"Treadmill not reachable: {service.no_device}",
        }.get(int(code), code.name)
        line = f"{text} (belt {belt}; exit code {int(code)}: {code.name.lower()})"
        if service.engine is None or not snap.summary:
            return line
        return f"{line}\n{service.summary().text(service.units)}"


__all__ = ["STOP_KEYS", "HeadlessConsole", "progress_line"]
