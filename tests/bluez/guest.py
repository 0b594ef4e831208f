"""The BlueZ tests, run INSIDE the virtual machine that ``tests/bluez/run-vm.sh`` boots.

The real Linux path: the project's CLI with the default (system) adapter, i.e. bleak's BlueZ
backend over D-Bus to a real ``bluetoothd`` and the guest kernel's Bluetooth stack. The kernel's
controller is a bumble virtual controller on ``/dev/vhci``; it shares a bumble ``LocalLink``
(our :class:`~retro_treadmill.ble.radio.VirtualRadio`) with two virtual treadmills:

* ``RetroSim FTMS`` (personality ``spec``): the scan, the whole session and then the stop key (a
  second session on the same treadmill: BlueZ's cached GATT database, a fresh link);
* ``RetroSim Drop`` (``keeps-running-on-disconnect``): the link drop.

The treadmills run in a child process of this one (the "harness") and log what they RECEIVED
(every control-point write, connections, the belt) as JSON lines; those logs are the oracle.

Each CLI run is ``retro_treadmill.cli.main(argv)`` in a forked child of this process, with its own
stdin, stdout and exit code. Forking a process that has already imported everything saves a Python
start-up per run: under TCG on a shared 2-core machine, one start-up with the project's imports
costs 20-30 s of wall time.

Exit code 0 when every check passed; the last line says PASS or FAIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "session.toml"
WORK = Path(os.environ.get("BLUEZ_VM_WORK", "/tmp/bluez-vm"))
SIM_LOG = WORK / "treadmills.jsonl"
MAIN = "RetroSim FTMS"
DROP = "RetroSim Drop"
MAIN_ADDRESS = "F0:F1:F2:F3:F4:F5"
DROP_ADDRESS = "F0:F1:F2:F3:F4:F6"
BLUEZ_ADDRESS = "F0:B1:0E:00:00:01"
TREADMILLS = {MAIN: (MAIN_ADDRESS, "spec"), DROP: (DROP_ADDRESS, "keeps-running-on-disconnect")}
"""The link-drop treadmill starts when its test begins."""
ADVERTISING_INTERVAL_MS = 200.0
"""Each advertisement costs the emulated guest a trip through the kernel, bluetoothd, D-Bus and
bleak; at the treadmill's usual 50 ms they crowded out everything else."""
OP_REQUEST_CONTROL = 0x00
OP_SET_TARGET_SPEED = 0x02
OP_START = 0x07
OP_STOP = 0x08
STOP = bytes([OP_STOP, 0x01])
PRELOAD = (
    "bleak.backends.bluezdbus.client",
    "bleak.backends.bluezdbus.manager",
    "bleak.backends.bluezdbus.scanner",
    "retro_treadmill.commands.run",
    "retro_treadmill.commands.scan",
    "retro_treadmill.service.headless",
    "retro_treadmill.service.session",
    "retro_treadmill.sim.server",
    "retro_treadmill.tui.screens.preflight",
)
"""What a headless run and a scan import (measured), imported once before the forks."""
RUN_TIMEOUT_S = 150.0
"""Bound of one CLI run (wall seconds): connecting under TCG takes a few seconds, the session
40 s of real time."""

T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {message}", flush=True)


# -- the system services --------------------------------------------------------------------------


def start_bluez() -> subprocess.Popen[bytes]:
    """``hci_vhci``, a system D-Bus and ``bluetoothd`` (its log in WORK)."""
    subprocess.run(["modprobe", "hci_vhci"], check=True)
    if not Path("/dev/vhci").exists():
        raise SystemExit("bluez-vm: modprobe hci_vhci gave no /dev/vhci")
    Path("/run/dbus").mkdir(parents=True, exist_ok=True)
    subprocess.run(["dbus-daemon", "--system", "--fork"], check=True)
    log = (WORK / "bluetoothd.log").open("wb")
    subprocess.Popen(["btmon", "-w", str(WORK / "hci.btsnoop")], stdout=subprocess.DEVNULL)
    return subprocess.Popen(
        ["/usr/libexec/bluetooth/bluetoothd", "--nodetach", "--debug"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def bluez_version() -> str:
    out = subprocess.run(
        ["/usr/libexec/bluetooth/bluetoothd", "--version"], capture_output=True, text=True
    )
    return out.stdout.strip()


def power_on(timeout: float) -> float:
    """Wait until BlueZ has our controller and powers it on; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        out = subprocess.run(
            ["bluetoothctl", "power", "on"], capture_output=True, text=True, timeout=30
        )
        if "succeeded" in out.stdout:
            return time.monotonic() - start
        time.sleep(1.0)
    raise SystemExit(f"bluez-vm: BlueZ did not power on the vhci controller in {timeout:.0f} s")


# -- the harness: the virtual treadmills on the link with BlueZ's controller -----------------------


def harness(commands_fd: int) -> None:
    """Child process: the treadmills until SIGTERM. Commands on ``commands_fd``: ``drop NAME``."""
    asyncio.run(_harness(commands_fd))


async def _harness(commands_fd: int) -> None:
    import logging

    from bumble.transport import open_transport

    # bumble's controllers and link say here what they dropped or refused (BLUEZ_VM_HCI_DEBUG=1:
    # every HCI packet of the controllers too, at some cost in the emulated guest).
    logging.basicConfig(filename=WORK / "bumble.log", level=logging.WARNING)
    if os.environ.get("BLUEZ_VM_HCI_DEBUG"):
        logging.getLogger("bumble.controller").setLevel(logging.DEBUG)
        logging.getLogger("bumble.link").setLevel(logging.DEBUG)

    from retro_treadmill.ble.radio import VirtualRadio
    from retro_treadmill.sim.server import VirtualTreadmill

    out = SIM_LOG.open("a", buffering=1)

    def record(sim: str, kind: str, **fields: Any) -> None:
        out.write(json.dumps({"wall": time.monotonic(), "sim": sim, "kind": kind, **fields}) + "\n")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    transport = await open_transport("vhci")
    async with VirtualRadio(public_address_hosts=True) as radio:
        controller = radio.new_controller("bluez", host_sink=transport.sink, linux_host=True)
        controller.public_address = BLUEZ_ADDRESS
        transport.source.set_packet_sink(controller)
        sims: dict[str, VirtualTreadmill] = {}
        written: dict[str, int] = {}

        def flush_writes(name: str) -> None:
            sim = sims[name]
            for w in sim.writes[written[name] :]:
                record(
                    name,
                    "write",
                    client=w.client,
                    data=w.data.hex(),
                    opcode=w.opcode,
                    result=w.result,
                    att_error=w.att_error,
                )
            written[name] = len(sim.writes)

        def logger(name: str) -> Callable[[str], None]:
            def log(message: str) -> None:
                if name in sims:
                    flush_writes(name)
                    record(name, "log", message=message, connections=sims[name].connections)

            return log

        async def start(name: str) -> None:
            address, personality = TREADMILLS[name]
            sims[name] = VirtualTreadmill.on_radio(
                radio,
                address,
                personality=personality,
                name=name,
                log=logger(name),
                advertising_interval_ms=ADVERTISING_INTERVAL_MS,
            )
            written[name] = 0
            await sims[name].start()

        await start(MAIN)

        tasks: set[asyncio.Task[None]] = set()

        def on_command() -> None:
            line = os.read(commands_fd, 256).decode().strip()
            verb, _, name = line.partition(" ")
            if verb == "drop" and name in sims:
                record(name, "drop")
                tasks.add(loop.create_task(sims[name].drop_link()))
            elif verb == "start" and name in TREADMILLS and name not in sims:
                tasks.add(loop.create_task(start(name)))
            elif not line:
                stop.set()

        loop.add_reader(commands_fd, on_command)
        say(f"harness: {MAIN} advertising on the link with the vhci controller")
        belts: dict[str, tuple[bool, float]] = {}
        while not stop.is_set():
            for name, sim in list(sims.items()):
                flush_writes(name)
                belt = (sim.running, round(sim.belt_speed_kmh, 1))
                if belts.get(name) != belt:
                    belts[name] = belt
                    record(name, "belt", running=belt[0], speed_kmh=belt[1])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
        for sim in sims.values():
            await sim.close()
    await transport.close()


class Harness:
    """The harness child seen from the driver: its log and its command pipe."""

    def __init__(self) -> None:
        read_fd, self._commands = os.pipe()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            os.close(self._commands)
            code = 0
            try:
                harness(read_fd)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(read_fd)
        self.pid = pid
        self.records: list[dict[str, Any]] = []
        self._offset = 0

    def poll(self) -> list[dict[str, Any]]:
        """Read the records logged since the last poll (all of them are kept in ``records``)."""
        if not SIM_LOG.exists():
            return []
        with SIM_LOG.open() as f:
            f.seek(self._offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]
        self._offset += len(complete.encode())
        new = [json.loads(line) for line in complete.splitlines() if line]
        self.records.extend(new)
        return new

    def since(self, mark: int, sim: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Records of ``sim`` (and ``kind``) from index ``mark`` on."""
        self.poll()
        return [
            r
            for r in self.records[mark:]
            if r["sim"] == sim and (kind is None or r["kind"] == kind)
        ]

    def mark(self) -> int:
        self.poll()
        return len(self.records)

    def belt(self, sim: str) -> tuple[bool, float]:
        """The last belt state the treadmill logged: (running, km/h)."""
        self.poll()
        for r in reversed(self.records):
            if r["sim"] == sim and r["kind"] == "belt":
                return bool(r["running"]), float(r["speed_kmh"])
        return False, 0.0

    def command(self, line: str) -> None:
        os.write(self._commands, (line + "\n").encode())

    def close(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        _wait(self.pid, 10.0)


def _wait(pid: int, timeout: float) -> int | None:
    """The exit code of child ``pid``, or None when it is still running after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= end:
            return None
        time.sleep(0.1)


# -- the CLI runs ---------------------------------------------------------------------------------


@dataclass
class CliRun:
    """``retro-treadmill ARGV`` in a forked child: stdin is a pipe, stdout+stderr a file."""

    argv: Sequence[str]
    name: str
    pid: int = 0
    stdin: int = -1
    started: float = 0.0
    code: int | None = None
    wall_s: float = 0.0
    output_path: Path = field(default_factory=Path)

    def start(self) -> CliRun:
        from retro_treadmill.cli import main

        self.output_path = WORK / f"{self.name}.out"
        read_fd, self.stdin = os.pipe()
        out_fd = os.open(self.output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        say(f"$ retro-treadmill {' '.join(self.argv)}")
        self.started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(self.stdin)
                os.dup2(read_fd, 0)
                os.dup2(out_fd, 1)
                os.dup2(out_fd, 2)
                code = main(list(self.argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(read_fd)
        os.close(out_fd)
        self.pid = pid
        return self

    def type(self, text: str) -> None:
        os.write(self.stdin, text.encode())

    def running(self) -> bool:
        if self.code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._finished(os.waitstatus_to_exitcode(status))
        return self.code is None

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> int:
        if self.code is None:
            code = _wait(self.pid, max(0.0, self.started + timeout - time.monotonic()))
            if code is None:
                os.kill(self.pid, signal.SIGKILL)
                _wait(self.pid, 5.0)
                raise Failure(f"{self.name}: still running after {timeout:.0f} s", self)
            self._finished(code)
        assert self.code is not None
        return self.code

    def _finished(self, code: int) -> None:
        self.code = code
        self.wall_s = time.monotonic() - self.started
        with contextlib.suppress(OSError):
            os.close(self.stdin)
        say(f"{self.name}: exit {code} after {self.wall_s:.1f} s")

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace")


class Failure(Exception):
    """A check failed; carries the run whose output explains it."""

    def __init__(self, message: str, run: CliRun | None = None) -> None:
        super().__init__(message)
        self.run = run


def check(condition: bool, message: str, run: CliRun | None = None) -> None:
    if not condition:
        raise Failure(message, run)


def until(
    predicate: Callable[[], bool], timeout: float, what: str, run: CliRun | None = None
) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if run is not None and not run.running():
            raise Failure(f"{run.name} exited ({run.code}) while waiting for {what}", run)
        if time.monotonic() > end:
            raise Failure(f"no {what} within {timeout:.0f} s", run)
        time.sleep(0.2)


def commands(writes: list[dict[str, Any]]) -> list[str]:
    """Control-point writes the treadmill accepted as hex, without Request Control."""
    return [w["data"] for w in writes if w["opcode"] != OP_REQUEST_CONTROL]


def speeds_kmh(writes: list[dict[str, Any]]) -> list[float]:
    out = []
    for w in writes:
        data = bytes.fromhex(w["data"])
        if data[:1] == bytes([OP_SET_TARGET_SPEED]) and len(data) == 3:
            out.append(int.from_bytes(data[1:], "little") / 100)
    return out


RECORDS = Path("/run/retro-treadmill-records")
"""The session records: the guest's root file system is the host's, read-only, and SQLite's WAL
cannot live on the 9p work dir (no shared memory there), so the store goes to the guest's tmpfs."""
RUN = [
    "run",
    "--profile",
    str(PROFILE),
    "--headless",
    "--yes-preflight",
    "--data-dir",
    str(RECORDS),
]


def test_scan(h: Harness) -> None:
    run = CliRun(["scan", "--timeout", "5"], "scan").start()
    code = run.wait(60)
    check(code == 0, f"scan: exit {code}, expected 0", run)
    lines = [line for line in run.output.splitlines() if MAIN in line]
    check(bool(lines) and MAIN_ADDRESS in lines[0], f"scan did not list {MAIN}", run)
    check("treadmill" in lines[0], f"scan did not call {MAIN} a treadmill", run)
    say(f"scan: {lines[0].strip()}")


def test_session(h: Harness) -> None:
    mark = h.mark()
    run = CliRun([*RUN, "--device", MAIN, "--event-log", str(WORK / "session.jsonl")], "session")
    run.start()
    code = run.wait()
    writes = h.since(mark, MAIN, "write")
    sent = commands(writes)
    say(f"session: {MAIN} received {' | '.join(sent)}")
    check(code == 0, f"session: exit {code}, expected 0 (completed)", run)
    check(
        any(w["opcode"] == OP_REQUEST_CONTROL and w["result"] == 1 for w in writes),
        "session: the treadmill never granted control",
        run,
    )
    check(
        [bytes.fromhex(c)[0] for c in sent].count(OP_START) == 1,
        f"session: expected exactly one Start, got {sent}",
        run,
    )
    speeds = speeds_kmh(writes)
    check(bool(speeds) and speeds[0] <= 1.61, f"session: first speed {speeds[:1]} km/h", run)
    check(max(speeds, default=0) >= 1.8, f"session: never ramped past 1.8 km/h: {speeds}", run)
    check(speeds == sorted(speeds), f"session: speeds went down during the ramp: {speeds}", run)
    belts = h.since(mark, MAIN, "belt")
    top = max((b["speed_kmh"] for b in belts), default=0.0)
    check(top >= 1.8, f"session: the belt never ran at 1.8 km/h (top {top})", run)
    check(sent[-1] == STOP.hex(), f"session: the last command was {sent[-1]}, not Stop", run)
    check(h.belt(MAIN) == (False, 0.0), f"session: belt {h.belt(MAIN)} at the end", run)
    say(f"session: belt reached {top} km/h; ended with Stop, belt stopped")


def start_treadmill(h: Harness, name: str) -> None:
    h.command(f"start {name}")
    until(lambda: any(r["sim"] == name for r in h.poll() + h.records), 30, f"{name} up")


def test_link_drop(h: Harness) -> None:
    start_treadmill(h, DROP)
    mark = h.mark()
    run = CliRun([*RUN, "--device", DROP, "--event-log", str(WORK / "drop.jsonl")], "link-drop")
    run.start()
    until(lambda: h.belt(DROP)[1] >= 1.5, RUN_TIMEOUT_S, f"{DROP} belt at 1.5 km/h", run)
    h.command(f"drop {DROP}")
    say(f"link-drop: dropped the link of {DROP} with the belt at {h.belt(DROP)[1]} km/h")
    code = run.wait()
    records = h.since(mark, DROP)
    dropped = next(i for i, r in enumerate(records) if r["kind"] == "drop")
    after = records[dropped:]
    reconnected = [r for r in after if r["kind"] == "log" and r["message"].startswith("connected")]
    sent = commands([r for r in after if r["kind"] == "write"])
    say(f"link-drop: after the drop {DROP} received {' | '.join(sent) or 'nothing'}")
    check(bool(reconnected), "link-drop: the client never reconnected", run)
    check(code == 4, f"link-drop: exit {code}, expected 4 (safety alarm)", run)
    check(bool(sent) and sent[0] == STOP.hex(), f"link-drop: first command {sent[:1]}", run)
    moving = [c for c in sent if bytes.fromhex(c)[0] in (OP_START, OP_SET_TARGET_SPEED)]
    check(not moving, f"link-drop: commands that move the belt after the drop: {moving}", run)
    check(h.belt(DROP) == (False, 0.0), f"link-drop: belt {h.belt(DROP)} at the end", run)
    say("link-drop: Stop first after the reconnect, no resume, belt stopped")


def test_stop_key(h: Harness) -> None:
    mark = h.mark()
    run = CliRun([*RUN, "--device", MAIN, "--event-log", str(WORK / "stop.jsonl")], "stop-key")
    run.start()
    until(lambda: h.belt(MAIN)[1] >= 1.5, RUN_TIMEOUT_S, f"{MAIN} belt at 1.5 km/h", run)
    pressed = time.monotonic()
    before = len(h.since(mark, MAIN, "write"))
    run.type("s\n")
    until(
        lambda: STOP.hex() in commands(h.since(mark, MAIN, "write")[before:]),
        10,
        "Stop at the treadmill after the s key",
        run,
    )
    stop_at = next(
        r["wall"] for r in h.since(mark, MAIN, "write")[before:] if r["data"] == STOP.hex()
    )
    code = run.wait()
    check(code == 3, f"stop-key: exit {code}, expected 3 (stopped by the operator)", run)
    check(h.belt(MAIN) == (False, 0.0), f"stop-key: belt {h.belt(MAIN)} at the end", run)
    say(f"stop-key: s -> Stop at the treadmill in {stop_at - pressed:.2f} s; belt stopped")


TESTS: list[tuple[str, str, Callable[[Harness], None]]] = [
    ("scan", "scan finds RetroSim FTMS", test_scan),
    ("session", "headless session by name, ramp, belt stopped, exit 0", test_session),
    ("stop-key", "s on the headless console stops the belt, exit 3", test_stop_key),
    ("link-drop", "link drop: Stop first after the reconnect, no resume, exit 4", test_link_drop),
]


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    SIM_LOG.unlink(missing_ok=True)
    say(f"guest kernel {os.uname().release}, BlueZ {bluez_version()}")
    bluetoothd = start_bluez()
    # The harness imports bumble and the treadmill on one virtual CPU while this process imports
    # what every CLI run needs on the other (once, before the forks; run's imports are lazy).
    h = Harness()

    for module in PRELOAD:
        importlib.import_module(module)
    cli = importlib.import_module("retro_treadmill.cli")
    cli.build_parser()  # imports every command's module

    say(f"imports done (bleak {importlib.metadata.version('bleak')})")
    failed: list[str] = []
    ran = 0
    try:
        say(f"BlueZ powered the vhci controller on after {power_on(120):.1f} s")
        only = [t for t in os.environ.get("BLUEZ_VM_ONLY", "").split(",") if t]
        for key, title, test in TESTS:
            if only and key not in only:
                continue
            ran += 1
            try:
                test(h)
                say(f"ok   {title}")
            except Failure as failure:
                failed.append(title)
                say(f"FAIL {title}: {failure}")
                if failure.run is not None:
                    say(f"--- output of {failure.run.name} ---\n{failure.run.output}---")
    finally:
        h.close()
        bluetoothd.terminate()
        with (WORK / "dmesg.log").open("wb") as dmesg:
            subprocess.run(["dmesg"], stdout=dmesg, check=False)
    if failed:
        say("--- treadmill log ---")
        for r in h.records[-20:]:
            print(json.dumps(r), flush=True)
        print(f"bluez-vm: FAIL ({len(failed)} of {ran} failed)", flush=True)
        return 1
    print(f"bluez-vm: PASS ({ran} tests)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
