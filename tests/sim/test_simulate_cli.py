"""``retro-treadmill simulate`` in its own process, reached over HCI-over-TCP; --snoop in tshark."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from retro_treadmill.ble.adapter import open_adapter
from tests.sim.conftest import FTMS, Wire, uuid


class SimProcess:
    def __init__(self, process: asyncio.subprocess.Process, transport: str) -> None:
        self.process = process
        self.transport = transport
        self.lines: list[str] = []

    async def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        self.process.send_signal(sig)
        out, _ = await asyncio.wait_for(self.process.communicate(), 20)
        return self.process.returncode or 0, "\n".join(self.lines) + out.decode()


async def run(*command: str) -> tuple[int, str, str]:
    """Run a command to completion without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def start_simulate(*args: str) -> SimProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "retro_treadmill",
        "simulate",
        "--listen",
        "127.0.0.1:0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(30):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, "simulate exited early:\n" + "".join(lines)
            lines.append(line.rstrip())
            if m := re.search(r"listening: (tcp-client:127\.0\.0\.1:\d+)", line):
                sim = SimProcess(process, m.group(1))
                sim.lines = lines
                return sim


@pytest.fixture
async def simulate(tmp_path: Path) -> AsyncIterator[tuple[SimProcess, Path]]:
    snoop = tmp_path / "session.btsnoop"
    sim = await start_simulate("--time-scale", "10", "--snoop", str(snoop), "--name", "Far TM")
    try:
        yield sim, snoop
    finally:
        if sim.process.returncode is None:
            sim.process.kill()
            await sim.process.wait()


async def test_a_client_in_another_process_scans_connects_and_drives_the_belt(
    simulate: tuple[SimProcess, Path],
) -> None:
    sim, snoop = simulate
    async with open_adapter(f"bumble:{sim.transport}") as adapter:
        found = await adapter.discover(timeout=1.0, service_uuids=[FTMS])
        (device, advertisement), *_ = found.values()
        assert advertisement.local_name == "Far TM"
        assert advertisement.service_data[FTMS] == bytes.fromhex("010100")
        async with adapter.client(device) as client:
            wire = Wire(client, None)  # the treadmill runs in the other process
            await wire.subscribe()
            assert await client.read_gatt_char(uuid("2AD4")) == bytes.fromhex("3200b0040a00")
            assert await wire.command(b"\x00") == bytes.fromhex("800001")
            assert await wire.command(b"\x07") == bytes.fromhex("800701")
            assert await wire.command(b"\x02\xc8\x00") == bytes.fromhex("800201")  # 2.00 km/h
            await wire.wait(lambda w: any(v[2:4] == b"\xc8\x00" for v in w.values("2ACD")))
            assert await wire.command(b"\x08\x01") == bytes.fromhex("800801")
            await wire.wait(lambda w: bytes.fromhex("0201") in w.values("2ADA"))
    code, output = await sim.stop()
    assert code == 0
    assert "connected:" in output
    assert "control point from" in output
    assert "02 c8 00 -> result 0x01" in output
    assert "stopping" in output

    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    _, out, _ = await run(
        "tshark", "-r", str(snoop), "-Y", "btatt", "-T", "fields",
        "-e", "btatt.opcode", "-e", "btatt.handle", "-e", "btatt.value",
    )  # fmt: skip
    fields = out.splitlines()
    rows = [line.split("\t") for line in fields]
    writes = {r[1] for r in rows if r[0] == "0x12"}
    indications = [r for r in rows if r[0] == "0x1d"]
    notifications = [r for r in rows if r[0] == "0x1b"]
    assert indications, "no ATT indications in the capture"
    assert notifications, "no ATT notifications in the capture"
    cp_handle = indications[0][1]
    assert cp_handle in writes  # ATT Write Requests to the control point
    assert any(r[2].startswith("8007") for r in indications)
    _, dissected, _ = await run("tshark", "-r", str(snoop), "-Y", "btatt.opcode == 0x1b", "-V")
    assert "UUID: Treadmill Data (0x2acd)" in dissected
    assert "Fitness Machine Stopped or Paused by the User (0x02)" in dissected


async def test_sigterm_stops_cleanly_and_bad_options_are_refused() -> None:
    sim = await start_simulate("--personality", "urevo-e1l")
    taken = sim.transport.removeprefix("tcp-client:")
    code, out, err = await run(
        sys.executable, "-m", "retro_treadmill", "simulate", "--listen", taken
    )
    assert code == 2
    assert "address already in use" in err
    assert "advertising" not in out  # refused before the treadmill started
    code, output = await sim.stop(signal.SIGTERM)
    assert code == 0
    assert "personality urevo-e1l" in output
    code, _, err = await run(
        sys.executable, "-m", "retro_treadmill", "simulate", "--fault", "explode@3s"
    )
    assert code == 2
    assert "unknown fault 'explode'" in err
    code, out, err = await run(
        sys.executable, "-m", "retro_treadmill", "simulate", "--listen", "0.0.0.0:9700"
    )
    assert code == 2
    assert "only loopback addresses" in err
    assert "advertising" not in out  # refused before anything started


async def test_personality_and_faults_from_the_command_line_act_on_the_wire() -> None:
    """``--personality urevo-e1l --fault safety-key@20s`` in the simulate process: the client in
    this process sees notify-only responses and, once the key is out, Start refused (0x04)."""
    sim = await start_simulate(
        "--time-scale", "10", "--personality", "urevo-e1l", "--fault", "safety-key@20s"
    )
    try:
        async with open_adapter(f"bumble:{sim.transport}") as adapter:
            device = await adapter.find_device_by_filter(lambda _d, ad: FTMS in ad.service_data, 10)
            assert device is not None
            async with adapter.client(device) as client:
                control_point = client.services.get_characteristic(uuid("2AD9"))
                assert control_point is not None
                assert "notify" in control_point.properties
                assert "indicate" not in control_point.properties
                wire = Wire(client, None)
                await wire.subscribe()
                # The key comes out 2 s (wall) after the start, maybe before we subscribed.
                if await client.read_gatt_char(uuid("2AD3")) != bytes.fromhex("000f"):
                    # 03 Stopped by Safety Key, with the Urevo's zero padding; then Post-Workout
                    await wire.wait(
                        lambda w: (
                            bytes.fromhex("030000") in w.values("2ADA")
                            and bytes.fromhex("000f") in w.values("2AD3")
                        ),
                        20,
                    )
                assert await wire.command(b"\x07") == bytes.fromhex("800704")
    finally:
        code, output = await sim.stop()
    assert code == 0
    assert "fault scheduled at 20.0 s: safety-key@20s" in output
    assert "fault at 20." in output


def test_simulate_listens_on_loopback_port_9700_by_default() -> None:
    from retro_treadmill.cli import build_parser

    args = build_parser().parse_args(["simulate"])
    assert args.listen == "127.0.0.1:9700"
    assert args.personality == "spec"
    assert args.time_scale == 1.0
    assert args.snoop is None


async def test_count_serves_numbered_treadmills_and_each_client_picks_its_own_by_name() -> None:
    """``simulate --count 3``: three treadmills named "RetroSim FTMS 1".."3" on one link; two
    client processes' worth of hosts attach at once (one HCI connection each), each finds its
    treadmill by name as ``run --device NAME`` does, and the Stop each writes arrives at that
    treadmill only (the log names it, with ``--timestamps`` on every line)."""
    from retro_treadmill.ble.discovery import resolve_device

    sim = await start_simulate("--count", "3", "--timestamps")
    try:
        async with (
            open_adapter(f"bumble:{sim.transport}") as first,
            open_adapter(f"bumble:{sim.transport}") as second,
        ):
            for adapter, name in ((first, "RetroSim FTMS 2"), (second, "RetroSim FTMS 3")):
                device = await resolve_device(adapter, name, timeout=10)
                assert device.address.upper().startswith("F0:F1:F2:F3:F5:0")
                async with adapter.client(device) as client:
                    wire = Wire(client, None)
                    await wire.subscribe()
                    assert await wire.command(b"\x00") == bytes.fromhex("800001")
                    # Answered (at a standstill the spec treadmill says 0x04, not possible).
                    assert (await wire.command(b"\x08\x01"))[:2] == bytes.fromhex("8008")
    finally:
        code, output = await sim.stop()
    assert code == 0
    lines = output.splitlines()
    advertising = [line for line in lines if "advertising as" in line]
    assert [line.split("] ", 1)[0].split(" ", 1)[1] for line in advertising] == [
        "[RetroSim FTMS 1",
        "[RetroSim FTMS 2",
        "[RetroSim FTMS 3",
    ]
    stops = [line for line in lines if "08 01 -> result" in line]
    assert [line.split("] ", 1)[0].split(" ", 1)[1] for line in stops] == [
        "[RetroSim FTMS 2",
        "[RetroSim FTMS 3",
    ]
    for line in lines:
        if line.strip():  # every line starts with the host-wide monotonic time
            float(line.split(" ", 1)[0])


async def test_count_is_bounded_and_snoop_needs_a_single_treadmill() -> None:
    code, _, err = await run(sys.executable, "-m", "retro_treadmill", "simulate", "--count", "0")
    assert code == 2
    assert "--count must be 1..50" in err
    code, _, err = await run(
        sys.executable, "-m", "retro_treadmill", "simulate", "--count", "2", "--snoop", "x.log"
    )
    assert code == 2
    assert "--snoop captures one treadmill" in err
