"""The headless console's --auto-turn-around rule, unit by unit: it confirms a turn-around prompt
only while no alarm has been raised since the session last walked and no operator paused."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import termios
from dataclasses import dataclass, field
from typing import Any

import pytest

from retro_treadmill.service.headless import HeadlessConsole
from retro_treadmill.telemetry.eventlog import EventLog
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo


@dataclass
class _Status:
    state: Any
    turn_around: bool = True
    standstill: bool = True


@dataclass
class _State:
    value: str


@dataclass
class _Engine:
    status_value: _Status

    def status(self, now: float) -> _Status:
        return self.status_value


@dataclass
class _Clock:
    def now(self) -> float:
        return 0.0


@dataclass
class _Service:
    engine: _Engine
    alarm_seen: bool = False
    operator_paused: bool = False
    stop_requested: str | None = None
    clock: _Clock = field(default_factory=_Clock)
    log: EventLog = field(default_factory=EventLog)
    resumed: int = 0
    resumed_by: list[str | None] = field(default_factory=list)

    def resume(self, by: str | None = None) -> None:
        self.resumed += 1
        self.resumed_by.append(by)


def console(auto: bool, out: io.StringIO | None = None) -> HeadlessConsole:
    from retro_treadmill.profiles import load_profile

    profile = ProfileInfo.from_profile(load_profile("demo"), "demo")
    return HeadlessConsole(
        VIRTUAL_TREADMILL,
        profile,
        checklist=(),
        yes_preflight=True,
        auto_turn_around=auto,
        stdout=out if out is not None else io.StringIO(),
    )


@pytest.mark.parametrize(
    ("auto", "alarm_seen", "operator_paused", "stop", "turn_around", "resumes"),
    [
        (True, False, False, None, True, 1),
        (False, False, False, None, True, 0),  # --yes-preflight alone never confirms it
        (True, True, False, None, True, 0),  # an alarm since the belt last walked
        (True, False, True, None, True, 0),  # the operator (or MQTT) paused
        (True, False, False, "keyboard", True, 0),  # stopped: the session is over
        (True, False, False, None, False, 0),  # a pause that is no turn-around
    ],
)
def test_auto_turn_around_confirms_only_a_clean_turn_around(
    auto: bool,
    alarm_seen: bool,
    operator_paused: bool,
    stop: str | None,
    turn_around: bool,
    resumes: int,
) -> None:
    service = _Service(
        _Engine(_Status(_State("paused"), turn_around=turn_around)),
        alarm_seen=alarm_seen,
        operator_paused=operator_paused,
        stop_requested=stop,
    )
    console(auto)._auto_confirm(service)  # type: ignore[arg-type]
    assert service.resumed == resumes


def test_an_automatic_turn_around_is_recorded_as_such_not_as_the_operator() -> None:
    """The resume goes through the session's one event stream with who did it, so the records
    store (and MQTT) see "--auto-turn-around", not an operator's resume; no second, direct
    event-log record beside it."""
    service = _Service(_Engine(_Status(_State("paused"))))
    console(True)._auto_confirm(service)  # type: ignore[arg-type]
    assert service.resumed_by == ["--auto-turn-around"]
    assert [r for r in service.log.records if r.get("action") == "resume"] == []


def test_a_failing_observer_is_said_once_as_a_warning_and_the_session_goes_on() -> None:
    from retro_treadmill.tui.model import SessionSnapshot

    out = io.StringIO()
    shown = console(auto=False, out=out)
    first = "event-log stopped: EventLogFailed: [Errno 28] No space left on device"
    second = "recorder stopped: StoreError: database or disk is full"
    for warnings in [(), (first,), (first,), (first, second), (first, second)]:
        shown._events(SessionSnapshot(warnings=warnings))
    assert shown._writer.drain(2.0)
    assert out.getvalue().splitlines() == [
        f"WARNING: {first}; the session goes on",
        f"WARNING: {second}; the session goes on",
    ]


async def test_single_keys_from_a_terminal_and_ctrl_s_does_not_freeze_its_output() -> None:
    """Keys one at a time; Ctrl+S (XOFF) no longer suspends the terminal's output (a frozen
    screen while the belt runs); the terminal is as it was afterwards."""
    from retro_treadmill.service.headless import _Input

    main, tty_fd = pty.openpty()
    terminal = os.fdopen(tty_fd, "r", closefd=False)
    before = termios.tcgetattr(tty_fd)
    assert before[0] & termios.IXON
    keys = _Input(terminal)
    try:
        keys.cbreak()
        mode = termios.tcgetattr(tty_fd)
        assert not mode[0] & termios.IXON
        assert not mode[3] & termios.ICANON
        os.write(main, b"s")
        assert await asyncio.wait_for(keys.queue.get(), 2) == "s"
    finally:
        keys.close()
        assert termios.tcgetattr(tty_fd) == before
        terminal.close()
        os.close(tty_fd)
        os.close(main)
