"""Helpers shared by the multi-process benchmarks (``bench/footprint.py``, ``bench/fleet.py``).

- :class:`Usage`: CPU time and peak RSS of a process, read from ``/proc`` (Linux);
- :func:`spawn_in_pty`: a command under a real pseudo-terminal of a given size (the TUI and the
  monitor draw as they would in a terminal), its output drained by a thread;
- :class:`Simulate`: ``retro-treadmill simulate --count N --timestamps`` in its own process, its log
  read line by line (the Stop writes each virtual treadmill received, with their arrival time on
  the host-wide monotonic clock);
- :func:`broker`: a mosquitto broker on a free loopback port (the tests' helper);
- :func:`stats`, :func:`loadavg`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the tests' mosquitto helper lives in the repository, not the venv
    sys.path.insert(0, str(ROOT))

from tests.mosquitto import MosquittoBroker  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/PID/stat``)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of ``pid`` in MB (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class Usage:
    """CPU % of one core over a window (:meth:`begin` .. :meth:`end`) and peak RSS of a process."""

    pid: int
    _cpu0: float = 0.0
    _t0: float = 0.0
    cpu_pct: float = math.nan
    rss_mb: float = math.nan

    def begin(self) -> None:
        self._cpu0, self._t0 = cpu_seconds(self.pid), time.monotonic()

    def end(self) -> None:
        cpu, now = cpu_seconds(self.pid), time.monotonic()
        self.cpu_pct = 100.0 * (cpu - self._cpu0) / (now - self._t0)
        self.rss_mb = peak_rss_mb(self.pid)


@dataclass
class PtyProcess:
    """A process on the slave side of a pseudo-terminal; its output is read and dropped."""

    process: subprocess.Popen[bytes]
    master: int
    tail: bytearray = field(default_factory=bytearray)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self, timeout: float = 15.0) -> int | None:
        """Wait for the process (SIGTERM, then SIGKILL after ``timeout``); close the terminal."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)
        return self.process.returncode


def spawn_in_pty(
    command: Sequence[str], *, cols: int, rows: int, env: dict[str, str] | None = None
) -> PtyProcess:
    """Run ``command`` with a fresh pseudo-terminal of ``cols`` x ``rows`` as its controlling
    terminal and stdin/stdout/stderr."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
    environment.update(env or {})

    def child_setup() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        list(command),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment,
        preexec_fn=child_setup,
        close_fds=True,
    )
    os.close(slave)
    proc = PtyProcess(process, master)

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            proc.tail = (proc.tail + chunk)[-8192:]

    threading.Thread(target=drain, name=f"pty-drain-{process.pid}", daemon=True).start()
    return proc


_LINE = re.compile(r"^(?P<t>\d+\.\d+) (?:\[(?P<name>[^\]]+)\] )?(?P<text>.*)$")


class Simulate:
    """``retro-treadmill simulate --count N --timestamps --listen 127.0.0.1:0`` in its own process.

    :attr:`stops` holds, per treadmill name, a queue of the arrival times (``time.monotonic()``
    in the simulate process, the same clock host-wide) of every ``08 01`` control-point write;
    :attr:`starts` the names whose control point got a Start or a target speed (a session
    started); :attr:`transport` the bumble transport reaching it.
    """

    def __init__(self, count: int, *extra: str) -> None:
        self.count = count
        self.extra = extra
        self.transport = ""
        self.stops: dict[str, asyncio.Queue[float]] = {}
        self.writes: dict[str, list[tuple[float, str]]] = {}
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in close()
            "w", prefix="bench-simulate-", suffix=".log", delete=False
        )

    @staticmethod
    def name(index: int, count: int) -> str:
        return "RetroSim FTMS" if count == 1 else f"RetroSim FTMS {index}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "retro_treadmill",
            "simulate",
            "--count",
            str(self.count),
            "--timestamps",
            "--listen",
            "127.0.0.1:0",
            *self.extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for index in range(1, self.count + 1):
            self.stops[self.name(index, self.count)] = asyncio.Queue()
            self.writes[self.name(index, self.count)] = []
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(ready))
        async with asyncio.timeout(60):
            self.transport = await ready

    async def _read(self, ready: asyncio.Future[str]) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        single = "RetroSim FTMS" if self.count == 1 else None
        while line := (await self.process.stdout.readline()).decode():
            self._log.write(line)
            match = _LINE.match(line.rstrip("\n"))
            if match is None:
                continue
            text, name = match["text"], match["name"] or single
            if not ready.done() and (found := re.search(r"listening: (tcp-client:\S+)", text)):
                ready.set_result(found.group(1))
            if name is None or "control point from" not in text:
                continue
            payload = text.split(": ", 1)[1].split(" -> ", 1)[0]
            self.writes[name].append((float(match["t"]), payload))
            if payload == "08 01":
                self.stops[name].put_nowait(float(match["t"]))
        if not ready.done():
            ready.set_exception(RuntimeError(f"simulate exited; its log: {self._log.name}"))

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        self._log.close()
        os.unlink(self._log.name)


@contextlib.contextmanager
def broker() -> Iterator[MosquittoBroker]:
    """A mosquitto broker (anonymous, loopback, free port) for the length of the block."""
    with tempfile.TemporaryDirectory(prefix="bench-mosquitto-") as directory:
        running = MosquittoBroker(Path(directory))
        running.start()
        try:
            yield running
        finally:
            running.stop()


def stats(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, p99 and max in milliseconds of ``values`` in seconds (NaN when empty)."""
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return math.nan, math.nan, math.nan
    if len(ms) == 1:
        return ms[0], ms[0], ms[0]
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98]
    return statistics.median(ms), p99, ms[-1]


def loadavg() -> str:
    """The 1/5/15-minute load averages and the CPU count."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def python() -> str:
    """The interpreter running the benchmark (the venv's)."""
    return sys.executable


__all__ = [
    "ROOT",
    "MosquittoBroker",
    "PtyProcess",
    "Simulate",
    "Usage",
    "broker",
    "cpu_seconds",
    "loadavg",
    "peak_rss_mb",
    "python",
    "spawn_in_pty",
    "stats",
]
