"""The event log: JSON lines, batched off the stop path, never raising into the session."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

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
