"""The last resort of `run` with the TUI: when the UI cannot close (a terminal that vanished), a
timer thread ends the process, and what the event log holds reaches its file first."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from retro_treadmill.commands import run
from retro_treadmill.service import ExitCode
from retro_treadmill.telemetry.eventlog import EventLog


class Exited(Exception):
    pass


def test_the_last_resort_writes_the_event_log_before_the_process_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog.open(path)
    log.write("command", command="Stop", by="signal")
    log.write("simulator-log", message="belt at 11.1 s: standing (stopped)")
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Exited

    monkeypatch.setattr("os._exit", fake_exit)
    service = SimpleNamespace(exit_code=ExitCode.STOPPED, log=log)
    failure: list[BaseException] = []

    def last_resort() -> None:  # from a thread with no event loop, as the timer runs it
        try:
            run._exit_now(service)  # type: ignore[arg-type]
        except Exited:
            pass
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=last_resort)
    thread.start()
    thread.join()

    assert not failure
    assert codes == [int(ExitCode.STOPPED)]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["command", "simulator-log", "exit"]
    assert "did not close" in records[-1]["reason"]
