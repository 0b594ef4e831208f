"""The recorder as an observer of the session: what it keeps, and a store that fails (a full
disk) is a warning while the session and its stop path carry on."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from retro_treadmill.commands.run import recording_for
from retro_treadmill.config import ClinicConfig
from retro_treadmill.profiles import load_profile
from retro_treadmill.records.model import EventKind, SessionInfo, sha256_text
from retro_treadmill.records.store import Store
from retro_treadmill.service import ExitCode, SessionService
from retro_treadmill.service.sinks import Recording
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo, StopSource
from tests.service.conftest import STOP, Rig, until, walking

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


def recording(path: Path, session_id: str = "a" * 32) -> Recording:
    info = SessionInfo(
        session_id=session_id,
        started_at=0.0,
        profile_name="demo",
        profile_text="name = 'demo'",
        profile_sha256=sha256_text("name = 'demo'"),
        device_name="",
        device_address="",
        program_version="test",
        walker_id="walker 7",
        personality="spec",
        time_scale=10.0,
    )
    return Recording(path, info)


async def walk_then_stop(rig: Rig, service: SessionService, walk_s: float) -> float:
    await asyncio.sleep(walk_s)
    pressed = time.perf_counter()
    service.stop(StopSource.KEYBOARD)
    await until(
        service,
        lambda: any(w.data == STOP and w.perf_counter >= pressed for w in rig.sim.writes),
        timeout=5,
    )
    await until(service, service.session_over, timeout=30)
    return pressed


async def test_a_session_is_recorded_with_samples_events_outcome_and_totals(
    rig: Rig, tmp_path: Path
) -> None:
    db = tmp_path / "data" / "sessions.db"
    service = rig.service(recording=recording(db))

    async def then(service: SessionService) -> None:
        service.adjust_speed(10.0)  # refused: above the cap
        await walk_then_stop(rig, service, 3.0)  # 30 s of session time

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED
    store = Store.open(db)
    try:
        record = store.load("a" * 32)
    finally:
        store.close()
    assert record.info.walker_id == "walker 7"
    assert record.info.device_name == "RetroSim FTMS"
    assert record.row.outcome == "stopped"
    assert record.row.exit_code == 3
    # 1 Hz samples over ~30 s of session time (plus the countdown and the coast down)
    assert 25 <= len(record.samples) <= 60
    gaps = [b.t - a.t for a, b in zip(record.samples, record.samples[1:], strict=False)]
    assert max(gaps) < 2.0
    assert max(s.belt_speed_kmh or 0.0 for s in record.samples) > 1.5
    assert record.samples[-1].belt_speed_kmh == 0.0  # the final state is kept
    kinds = {(e.kind, e.name) for e in record.events}
    assert (EventKind.OPERATOR, "start") in kinds
    assert (EventKind.OPERATOR, "stop") in kinds
    refused = [e for e in record.events if e.kind == EventKind.REFUSED]
    assert refused, record.events
    assert refused[0].detail  # with its reason
    assert service.final_summary is not None
    stored, final = record.totals, service.final_summary.totals
    assert stored.distance_m == pytest.approx(final.distance_m)
    assert stored.backward_s == pytest.approx(final.backward_s)
    assert stored.refused_count >= 1
    assert service.warnings == ()


async def test_a_store_that_fails_mid_session_is_a_warning_and_the_stop_still_works(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = [False]
    original = Store.add_samples

    def add_samples(self: Store, session_id: str, samples: object) -> None:
        if full[0]:
            raise sqlite3.OperationalError("database or disk is full")
        original(self, session_id, samples)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "add_samples", add_samples)
    service = rig.service(recording=recording(tmp_path / "sessions.db"))
    warned: list[tuple[str, ...]] = []

    async def then(service: SessionService) -> None:
        await asyncio.sleep(0.5)
        full[0] = True  # the disk fills up
        await until(service, lambda: bool(service.snapshot.warnings), timeout=10)
        warned.append(service.snapshot.warnings)
        assert service.error is None
        assert service.snapshot.state.value == "running"  # the belt goes on
        await walk_then_stop(rig, service, 0.3)

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED  # not an internal error
    assert rig.sim.belt_speed_kmh == 0.0
    assert "recorder stopped" in warned[0][0]
    assert "database or disk is full" in warned[0][0]
    [failed] = [r for r in service.log.records if r["kind"] == "sink-failed"]
    assert failed["sink"] == "recorder"
    [outcome] = [r for r in service.log.records if r["kind"] == "outcome"]
    assert any(f.startswith("recorder:") for f in outcome["sink_failures"])


async def test_a_store_that_cannot_be_opened_is_reported_not_silent(
    rig: Rig, tmp_path: Path
) -> None:
    blocked = tmp_path / "sessions.db"
    blocked.mkdir()  # a folder where the database file should be
    service = rig.service(recording=recording(blocked))

    async def then(service: SessionService) -> None:
        await until(service, lambda: bool(service.warnings), timeout=10)
        await walk_then_stop(rig, service, 0.2)

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED
    assert service.warnings[0].startswith("recorder stopped: StoreError")


async def test_a_profile_chosen_after_start_up_is_the_one_recorded(
    rig: Rig, tmp_path: Path
) -> None:
    """The TUI starts with the command line's profile and lets the operator pick another: the
    record names the one that ran and keeps the text it was parsed from."""
    db = tmp_path / "data" / "sessions.db"
    service = rig.service(recording=recording(db))  # set up for "demo"
    chosen = load_profile("steady")

    async def frontend(service: SessionService) -> None:
        await service.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(chosen, "steady"))
        service.stop(StopSource.KEYBOARD)
        await until(service, service.session_over, timeout=10)

    await service.serve(frontend)

    with Store.open(db) as store:
        info = store.load("a" * 32).info
    assert info.profile_name == "steady"
    assert info.profile_text == (PROFILES / "steady.toml").read_text(encoding="utf-8")
    assert info.profile_sha256 == sha256_text(info.profile_text)


def test_the_record_keeps_the_profile_text_the_session_parsed(tmp_path: Path) -> None:
    """Edited (or removed) after the session loaded it, the file is not what was prescribed:
    the record keeps the text that was parsed, and its hash."""
    path = tmp_path / "mine.toml"
    text = (PROFILES / "steady.toml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    profile = load_profile(str(path))
    path.unlink()
    plan = SimpleNamespace(
        profile=profile,
        config=ClinicConfig(),
        device=None,
        walker=None,
        simulate="spec",
        time_scale=1.0,
        units="mph",
        data_dir=str(tmp_path / "data"),
    )
    info = recording_for(plan, "b" * 32).info  # type: ignore[arg-type]
    assert info.profile_text == text
    assert info.profile_sha256 == sha256_text(text)
