"""``retro-treadmill scan`` and the client across processes: a ``simulate --listen`` subprocess
reached over bumble's ``tcp-client`` transport (HCI over TCP on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator

import pytest
from bleak import BleakScanner
from bleak.exc import BleakError

from retro_treadmill.ble.adapter import open_adapter
from retro_treadmill.ble.discovery import looks_like_address
from retro_treadmill.ftms.client import FtmsClient
from retro_treadmill.ftms.model import Outcome

pytestmark = pytest.mark.slow


@pytest.fixture
async def simulate() -> AsyncIterator[str]:
    """A ``retro-treadmill simulate`` process; yields its bumble adapter spec."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "retro_treadmill",
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--name",
        "Scan Me FTMS",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    spec = None
    try:
        async with asyncio.timeout(30):
            while spec is None:
                line = (await proc.stdout.readline()).decode()
                assert line, "simulate exited early"
                m = re.search(r"listening: (tcp-client:127\.0\.0\.1:\d+)", line)
                if m:
                    spec = f"bumble:{m.group(1)}"
        yield spec
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _scan_cli(spec: str, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "retro_treadmill",
        "scan",
        "--adapter",
        spec,
        "--timeout",
        "1.5",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_scan_lists_the_virtual_treadmill(simulate: str) -> None:
    code, out = await _scan_cli(simulate, "--json")
    assert code == 0, out
    [entry] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert entry["name"] == "Scan Me FTMS"
    assert entry["kind"] == "treadmill"
    assert entry["available"] is True
    assert entry["machine_types"] == ["treadmill"]
    assert looks_like_address(entry["address"])
    assert isinstance(entry["rssi"], int)

    code, out = await _scan_cli(simulate)
    assert code == 0, out
    assert "Scan Me FTMS" in out
    assert "treadmill, available" in out

    # What a user does next: `run --device ADDRESS` with the address scan printed.
    async with (
        open_adapter(simulate) as adapter,
        FtmsClient(adapter, entry["address"], scan_timeout_s=5.0) as client,
    ):
        assert client.device is not None
        assert client.device.name == "Scan Me FTMS"
        assert (await client.request_control()).outcome is Outcome.SUCCESS


async def test_client_connects_by_name_across_processes(simulate: str) -> None:
    async with open_adapter(simulate) as adapter:
        client = FtmsClient(adapter, "Scan Me FTMS", scan_timeout_s=5.0)
        async with client:
            assert client.device is not None
            assert client.device.name == "Scan Me FTMS"
            assert (await client.start()).outcome is Outcome.SUCCESS
            assert (await client.stop()).outcome is Outcome.SUCCESS
            commands = [r.data["command"] for r in client.audit.of_kind("command")]
            assert commands == ["start", "stop"]


def test_scan_refuses_a_bad_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    from retro_treadmill.cli import main

    assert main(["scan", "--timeout", "0"]) == 2
    assert "--timeout must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "failure",
    [
        FileNotFoundError(2, "No such file or directory"),  # no D-Bus system bus (no BlueZ)
        BleakError("No Bluetooth adapters found."),
    ],
)
def test_scan_without_a_usable_system_adapter_says_what_to_do(
    failure: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from retro_treadmill.cli import main

    async def unusable(self: BleakScanner) -> None:
        raise failure

    monkeypatch.setattr(BleakScanner, "start", unusable)
    assert main(["scan", "--timeout", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retro-treadmill: error: ")
    assert "Traceback" not in err
    assert "--adapter" in err  # the way out: another adapter, e.g. the virtual treadmill's


def test_scan_that_hears_nothing_exits_1_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from retro_treadmill.ble import discovery
    from retro_treadmill.cli import main

    async def silence(self: BleakScanner) -> None:
        return None

    async def nothing(*_args: object, **_kw: object) -> list[object]:
        return []

    monkeypatch.setattr(BleakScanner, "start", silence)
    monkeypatch.setattr(BleakScanner, "stop", silence)
    monkeypatch.setattr(discovery, "scan", nothing)
    assert main(["scan", "--timeout", "0.1"]) == 1
    assert "no FTMS treadmill or heart-rate monitor heard within 0.1 s" in capsys.readouterr().out


def test_scan_exit_codes_are_documented_in_help_and_readme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pathlib import Path

    from retro_treadmill.cli import main

    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split("## Finding your treadmill: `scan`")[1].split("###")[0].split())
    for code, meaning in (("0", "something was found"), ("1", "nothing was heard"), ("2", "usage")):
        assert f"{code} {meaning}" in help_text, help_text
        assert f"{code} {meaning}" in section, section
