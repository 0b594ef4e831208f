"""Footprint of a session: the headless front end against the TUI, side by side, CPU and RSS.

Run with ``make bench`` (``.venv/bin/python bench/footprint.py [--seconds S]``). One
``retro-treadmill simulate --count 2`` in its own process serves two virtual treadmills; two
``retro-treadmill run --profile demo`` sessions, one ``--headless --yes-preflight`` and one with the
TUI, each under its own pseudo-terminal of 120x36, connect to one each over HCI over TCP. The TUI
is driven with the keys an operator presses (tick the four checklist items, ``g``). Once both belts
run, the bench measures both processes over the same ``--seconds`` window (60 s by default): CPU %
of one core (user + system time from ``/proc``) and peak RSS (``VmHWM``), and prints the ratio
TUI/headless. Targets (issue 15): TUI CPU <= 2x the headless CPU and TUI RSS <= 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._procs import PtyProcess, Simulate, Usage, loadavg, spawn_in_pty  # noqa: E402

COLS, ROWS = 120, 36
TARGET_CPU_RATIO = 2.0
TARGET_TUI_RSS_MB = 100.0


SCREENED_NO = ("balance=no", "dizziness=no", "neurological=no", "surgery=no")
"""The first-use safety screening, answered for the bench's own data directory: all no, so
neither session stops at the screening (the TUI's form, headless's questions on its terminal)
and no spotter item is added."""


def _screened_data_dir(path: str) -> dict[str, str]:
    """The environment of a session whose data (screening, records) live in ``path``, screened."""
    env = {"RETRO_TREADMILL_DATA": path}
    subprocess.run(
        [sys.executable, "-m", "retro_treadmill", "screening", "set", *SCREENED_NO],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return env


def _session(sim: Simulate, index: int, env: dict[str, str], *extra: str) -> PtyProcess:
    return spawn_in_pty(
        [
            sys.executable,
            "-m",
            "retro_treadmill",
            "run",
            "--profile",
            "demo",
            "--device",
            Simulate.name(index, sim.count),
            "--adapter",
            f"bumble:{sim.transport}",
            *extra,
        ],
        cols=COLS,
        rows=ROWS,
        env=env,
    )


def _started(sim: Simulate, index: int) -> bool:
    """Whether the session on treadmill ``index`` set a belt speed (its session runs)."""
    return any(data.startswith("02 ") for _, data in sim.writes[Simulate.name(index, sim.count)])


async def measure(seconds: float) -> tuple[Usage, Usage]:
    """Headless and TUI sessions against one ``simulate --count 2``; their usage over the window."""
    data = tempfile.TemporaryDirectory(prefix="footprint-")
    env = _screened_data_dir(data.name)
    sim = Simulate(2)
    await sim.start()
    headless = tui = None
    try:
        headless = _session(sim, 1, env, "--headless", "--yes-preflight")
        tui = _session(sim, 2, env)
        async with asyncio.timeout(120):
            while not _started(sim, 2):
                if tui.process.poll() is not None:
                    raise RuntimeError("the TUI exited:\n" + tui.tail.decode(errors="replace"))
                # The checklist's four items, then Start (refused until the treadmill reports a
                # standstill: pressed again until the belt is told a speed).
                tui.write(b"1234g")
                await asyncio.sleep(1.0)
            while not _started(sim, 1):
                if headless.process.poll() is not None:
                    raise RuntimeError(
                        "headless exited:\n" + headless.tail.decode(errors="replace")
                    )
                await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # both belts up to speed, both screens settled
        usages = Usage(headless.process.pid), Usage(tui.process.pid)
        for usage in usages:
            usage.begin()
        await asyncio.sleep(seconds)
        for usage in usages:
            usage.end()
        if headless.process.poll() is not None or tui.process.poll() is not None:
            raise RuntimeError("a session ended inside the window (the profile is too short)")
        tui.write(b" ")  # the stop key; the headless one takes space as well
        headless.write(b" ")
        await asyncio.sleep(1.0)
        return usages
    finally:
        for proc in (headless, tui):
            if proc is not None:
                proc.close()
        await sim.close()
        data.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window, s")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 100:
        parser.error("--seconds must be in (0, 100] (the demo profile lasts 2 minutes)")
    print(
        f"footprint: headless and TUI sessions ({COLS}x{ROWS} pseudo-terminals), profile demo, "
        f"against simulate in another process, over the same {args.seconds:g} s window; "
        f"Python {sys.version.split()[0]}"
    )
    print(f"load average at start: {loadavg()}")
    started = time.monotonic()
    headless, tui = asyncio.run(measure(args.seconds))
    print(f"{'session':<10} {'CPU % of one core':>18} {'peak RSS MB':>12}")
    print(f"{'headless':<10} {headless.cpu_pct:>18.2f} {headless.rss_mb:>12.1f}")
    print(f"{'TUI':<10} {tui.cpu_pct:>18.2f} {tui.rss_mb:>12.1f}")
    ratio = tui.cpu_pct / headless.cpu_pct if headless.cpu_pct > 0 else float("inf")
    met = ratio <= TARGET_CPU_RATIO and tui.rss_mb <= TARGET_TUI_RSS_MB
    print(
        f"ratio TUI/headless: CPU {ratio:.2f}x, RSS {tui.rss_mb / headless.rss_mb:.2f}x "
        f"(target: CPU <= {TARGET_CPU_RATIO:g}x, TUI RSS <= {TARGET_TUI_RSS_MB:g} MB): "
        f"{'met' if met else 'NOT met'}"
    )
    print(f"load average at end: {loadavg()} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
