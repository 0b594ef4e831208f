"""The event log: JSON lines, batched off the stop path, never raising into the session."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest

from retro_treadmill.telemetry import eventlog
from retro_treadmill.telemetry.eventlog import EventLog


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_records_are_written_in_a_batch_after_the_call_not_during_it() -> None:
    stream = io.StringIO()
    log = EventLog(stream, clock=lambda: 12.5, flush_s=0.01)
    log.write("operator", action="stop", by="keyboard")
    assert stream.getvalue() == ""  # nothing encoded on the caller's path
    await asyncio.sleep(0.05)
    [record] = lines(stream)
    assert record["kind"] == "operator"
    assert record["t"] == 12.5
    assert record["by"] == "keyboard"


async def test_a_value_that_cannot_be_converted_costs_only_its_own_line() -> None:
    stream = io.StringIO()
    log = EventLog(stream, flush_s=0.01)
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _l, c: loop_errors.append(c))
    looped: list[Any] = []
    looped.append(looped)  # recursion: to_jsonable cannot convert it
    log.write("before")
    log.write("broken", value=looped)
    log.write("after")
    await asyncio.sleep(0.05)
    log.flush()
    kinds = [r["kind"] for r in lines(stream)]
    assert kinds == ["before", "log-error", "after"]
    assert loop_errors == []


async def test_a_big_batch_is_written_in_slices_that_leave_the_loop_to_a_stop() -> None:
    stream = io.StringIO()
    log = EventLog(stream, flush_s=0.01)
    for i in range(3000):  # a busy second and then some: telemetry, writes, responses
        log.write("telemetry", i=i, speed_kmh=1.6 + i / 1e4, data={"nested": [i, i + 1]})
    turns: list[float] = []  # the loop's turns while the batch is written

    async def watch() -> None:
        while len(lines(stream)) < 3000:
            before = time.perf_counter()
            await asyncio.sleep(0)
            turns.append(time.perf_counter() - before)

    async with asyncio.timeout(10):
        await watch()
    assert [r["i"] for r in lines(stream)] == list(range(3000))  # all of it, in order
    assert len(turns) > 10  # written over many turns, not in one piece
    # One turn holds the loop for one slice (0.2 ms of encoding, plus eight records at most):
    # a Stop arriving meanwhile waits about that long, not for the whole batch.
    assert sorted(turns)[len(turns) // 2] < 0.002


async def test_the_writer_waits_while_a_stop_is_in_flight_but_not_for_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    log = EventLog(stream, flush_s=0.001)
    in_flight = [True]
    log.yield_to = lambda: in_flight[0]
    monkeypatch.setattr(eventlog, "YIELD_MAX_S", 10.0)
    log.write("operator", action="stop")
    await asyncio.sleep(0.05)
    assert stream.getvalue() == ""  # held while the Stop is on its way
    in_flight[0] = False
    await asyncio.sleep(0.05)
    assert [r["kind"] for r in lines(stream)] == ["operator"]
    # A Stop that never settles (a dead link) holds the log for YIELD_MAX_S at most.
    monkeypatch.setattr(eventlog, "YIELD_MAX_S", 0.02)
    in_flight[0] = True
    log.write("alarm", alarm="link_loss")
    await asyncio.sleep(0.2)
    assert [r["kind"] for r in lines(stream)] == ["operator", "alarm"]


def test_a_log_read_while_it_is_being_written_gives_its_complete_lines(tmp_path: Any) -> None:
    """A reader polls the log of a running session (the e2e tests do, a tool may): a batch can
    reach the file in more than one write, so the last line may be cut. That line is not yet a
    record; every complete line before it is."""
    path = tmp_path / "live.jsonl"
    path.write_text('{"t":1.0,"kind":"state","state":"running"}\n{"t":8.246253,"wall":')
    assert eventlog.read_event_log(path) == [{"t": 1.0, "kind": "state", "state": "running"}]


def test_a_damaged_line_inside_the_log_is_still_an_error(tmp_path: Any) -> None:
    """Only the unfinished last line is skipped: a broken line with records after it is damage,
    and the reader says so instead of dropping it quietly."""
    path = tmp_path / "damaged.jsonl"
    path.write_text('{"t":1.0,"kind":"state"}\n{"t":8.2,"wall":\n{"t":9.0,"kind":"outcome"}\n')
    with pytest.raises(json.JSONDecodeError):
        eventlog.read_event_log(path)


async def test_a_disk_that_stops_taking_writes_is_a_failure_not_a_silent_hole() -> None:
    """The log's writer thread waits on a stalled disk; once its queue is full the log says it
    failed (the session then shows the observer's failure) instead of dropping lines quietly."""
    import threading

    class Stalled(io.StringIO):
        go = threading.Event()

        def write(self, text: str) -> int:
            self.go.wait(10)
            return super().write(text)

    stream = Stalled()
    log = EventLog(stream)
    assert log._writer is not None
    log._writer.max_pending = 2
    for n in range(5):
        log.write("state", n=n)
        log.flush(wait_s=0)  # a batch for the writer thread, as the loop's timer hands it over
    assert log.failed is not None
    assert "lines were lost" in log.failed
    Stalled.go.set()
