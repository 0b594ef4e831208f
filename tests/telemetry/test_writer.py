"""The threaded writer behind the event log and the headless console: the caller never waits
for the stream, nothing queued is lost or reordered, and a failing stream is said once."""

from __future__ import annotations

import io
import threading
import time

from retro_treadmill.telemetry.writer import ThreadedWriter


class StalledStream(io.StringIO):
    """A stream whose writes wait until :attr:`go` is set (a pipe nobody reads, a paused
    terminal, a disk behind a journal commit)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.entered = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self.go.wait(10)
        return super().write(text)


def test_writes_to_a_stalled_stream_return_at_once_and_arrive_in_order_later() -> None:
    stream = StalledStream()
    writer = ThreadedWriter(stream, name="test")
    writer.write("first\n")
    assert stream.entered.wait(2)  # the thread is inside the stalled write
    started = time.perf_counter()
    for n in range(100):
        assert writer.write(f"line {n}\n")
    assert time.perf_counter() - started < 0.05
    assert not writer.drain(0.1)  # still stalled
    stream.go.set()
    assert writer.drain(2)
    assert stream.getvalue().splitlines() == ["first", *(f"line {n}" for n in range(100))]
    assert writer.close(1)


def test_a_progress_line_is_left_out_while_the_writer_is_behind() -> None:
    stream = StalledStream()
    writer = ThreadedWriter(stream, name="test")
    writer.write("said\n")
    assert stream.entered.wait(2)
    assert not writer.write("\rprogress 1", droppable=True)
    assert writer.write("an alarm\n")  # a full line is kept
    assert not writer.write("\rprogress 2", droppable=True)
    stream.go.set()
    assert writer.drain(2)
    assert writer.write("\rprogress 3", droppable=True)  # caught up: shown again
    assert writer.close(1)
    assert stream.getvalue() == "said\nan alarm\n\rprogress 3"
    assert writer.dropped == 2


def test_the_queue_is_bounded_and_what_does_not_fit_is_counted() -> None:
    stream = StalledStream()
    writer = ThreadedWriter(stream, name="test", max_pending=3)
    writer.write("0\n")
    assert stream.entered.wait(2)
    accepted = [writer.write(f"{n}\n") for n in range(1, 6)]
    assert accepted == [True, True, True, False, False]
    assert writer.dropped == 2
    stream.go.set()
    assert writer.close(2)
    assert stream.getvalue().split() == ["0", "1", "2", "3"]


def test_a_stream_that_fails_is_said_once_and_takes_nothing_more() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    writer = ThreadedWriter(Full(), name="test")
    writer.write("a\n")
    assert writer.drain(2)
    assert writer.failed is not None
    assert "No space left" in writer.failed
    assert not writer.write("b\n")
    assert writer.close(1)


def test_close_gives_up_on_a_stream_that_never_takes_the_text() -> None:
    stream = StalledStream()
    writer = ThreadedWriter(stream, name="test")
    writer.write("stuck\n")
    assert stream.entered.wait(2)
    started = time.monotonic()
    assert not writer.close(0.2)  # bounded: the process can still exit
    assert time.monotonic() - started < 1.0
    stream.go.set()
