"""``history``, ``history show`` and ``export`` through the real command line, checked against
the store (FIT read back with fitdecode, an independent decoder; TCX with xml.etree)."""

from __future__ import annotations

import csv
import io
import json
import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fitdecode
import pytest

from retro_treadmill.cli import main
from retro_treadmill.records.export import CSV_COLUMNS, TCX_EXT_NS, TCX_NS
from retro_treadmill.records.model import SessionRecord
from retro_treadmill.records.paths import DATA_ENV
from retro_treadmill.records.recorder import Recorder
from retro_treadmill.records.store import Store
from retro_treadmill.records.totals import TotalsAccumulator
from tests.records import factory

SID = "5e55" + "0" * 28
OTHER = "5e66" + "1" * 28
OLD = "0ld0".replace("l", "1") + "2" * 28


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "data"
    recorder = Recorder(folder / "sessions.db")
    for sid, walker, start, outcome in (
        (OLD, "W-2", factory.START - 10 * 86400, "completed"),
        (SID, "W-17", factory.START, "stopped"),
        (OTHER, None, factory.START + 3600, "alarm"),
    ):
        accumulator = TotalsAccumulator()
        recorder.begin(factory.info(sid, walker=walker, started_at=start))
        for sample in factory.samples(start):
            recorder.sample(sample)
            accumulator.sample(sample)
        for event in factory.events(start):
            recorder.event(event)
            accumulator.event(event)
        recorder.finish(
            outcome, {"completed": 0, "stopped": 3, "alarm": 4}[outcome], accumulator.totals()
        )
    assert recorder.close(timeout=20)
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _record(folder: Path, sid: str = SID) -> SessionRecord:
    with Store.open(folder / "sessions.db") as store:
        return store.load(sid)


# -- history ---------------------------------------------------------------------------------------


def test_history_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "history", "--json", "--data-dir", str(data_dir))
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [OTHER, SID, OLD]  # newest first
    row = rows[1]
    record = _record(data_dir)
    assert row["started_at"] == "2026-09-21T14:13:20Z"
    assert row["walker_id"] == "W-17"
    assert row["profile"] == "Test ramp"
    assert row["outcome"] == "stopped"
    assert row["exit_code"] == 3
    assert row["duration_s"] == pytest.approx(114.0)
    assert row["distance_m"] == pytest.approx(record.totals.distance_m, abs=0.001)
    assert row["peak_speed_kmh"] == 2.4
    assert row["totals"]["alarm_count"] == 1


def test_history_filters(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV, str(data_dir))  # the environment variable works like --data-dir
    _, out, _ = _run(capsys, "history", "--json", "--walker", "W-17")
    assert [r["id"] for r in json.loads(out)] == [SID]
    since = datetime.fromtimestamp(factory.START - 86400, UTC).strftime("%Y-%m-%dT%H:%M+00:00")
    _, out, _ = _run(capsys, "history", "--json", "--since", since)
    assert [r["id"] for r in json.loads(out)] == [OTHER, SID]
    with pytest.raises(SystemExit) as exit_info:
        main(["history", "--since", "last tuesday"])
    assert exit_info.value.code == 2
    assert "is not a date: use YYYY-MM-DD" in capsys.readouterr().err


def test_history_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "history", "--data-dir", str(data_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "DATE", "WALKER", "PROFILE", "TIME", "DISTANCE", "PEAK", "OUTCOME", "ID",
    ]  # fmt: skip
    assert len(lines) == 4
    assert "W-17" in lines[2]
    assert "Test ramp" in lines[2]
    assert "1:54" in lines[2]
    assert "65 yd" in lines[2]  # 59.3 m at 1.5 mph reads as yards, not 0.04 mi
    assert "1.5 mph" in lines[2]
    assert "stopped" in lines[2]
    assert lines[2].rstrip().endswith(SID[:8])


def test_history_with_nothing_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "history", "--data-dir", str(tmp_path / "none"))
    assert code == 0
    assert "No sessions recorded yet" in out
    code, out, _ = _run(capsys, "history", "--json", "--data-dir", str(tmp_path / "none"))
    assert json.loads(out) == []
    assert not (tmp_path / "none").exists()  # reading never creates the store


def test_history_on_a_file_that_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sessions.db").write_text("garbage " * 1000)
    code, _, err = _run(capsys, "history", "--data-dir", str(tmp_path))
    assert code == 1
    assert "sessions.db: not a usable session store" in err


def test_history_show_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "history", "show", SID[:5], "--json", "--data-dir", str(data_dir))
    assert code == 0
    shown = json.loads(out)
    assert shown["id"] == SID
    assert shown["profile_text"] == factory.PROFILE_TEXT
    assert shown["device_address"] == "00:11:22:33:44:55"
    assert shown["sample_count"] == 115
    assert [(s["index"], s["name"], s["direction"]) for s in shown["segments"]] == [
        (1, "warm-up", "backward"),
        (2, "main", "backward"),
        (3, "forward", "forward"),
    ]
    assert shown["segments"][1]["duration_s"] == 60
    assert [(e["kind"], e["name"]) for e in shown["events"]] == [
        ("operator", "speed_up"),
        ("refused", "set_speed"),
        ("alarm", "heart_rate_high"),
        ("operator", "stop"),
    ]
    assert shown["events"][1]["data"] == {"requested_kmh": 2.3}


def test_history_show_text(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "history", "show", SID, "--data-dir", str(data_dir))
    assert code == 0
    assert f"Session {SID}" in out
    assert "outcome: stopped (exit code 3)" in out
    assert "walking backward 1:30, forward 0:19" in out
    assert "warm-up" in out
    assert "Alarms:\n     1:40  heart_rate_high: HR 150 > 140" in out
    assert "Operator actions:\n     0:40  speed_up: +0.1 mph\n     1:41  stop: space bar" in out
    assert "Refused commands:\n     0:41  set_speed: speed increase above" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "show", "5e"], "matches more than one session"),
        (["history", "show", "abcdef"], "no session with id 'abcdef'"),
        (["export", "5e", "--format", "csv"], "matches more than one session"),
        (["export", "zz", "--format", "fit"], "is not a session id"),
    ],
)
def test_bad_ids_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *argv, "--data-dir", str(data_dir))
    assert code == 2
    assert message in err


# -- exports ---------------------------------------------------------------------------------------


def _fit_messages(path: Path) -> dict[str, list[dict[str, Any]]]:
    messages: dict[str, list[dict[str, Any]]] = {}
    with fitdecode.FitReader(str(path), check_crc=fitdecode.CrcCheck.RAISE) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage):
                fields = {f.name: f.value for f in frame.fields}
                messages.setdefault(frame.name, []).append(fields)
    return messages


def test_export_fit_reads_back(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "walk.fit"
    code, out, _ = _run(
        capsys, "export", SID[:6], "--format", "fit", "-o", str(out_path), "--data-dir",
        str(data_dir),
    )  # fmt: skip
    assert code == 0
    assert str(out_path) in out
    assert stat.S_IMODE(out_path.stat().st_mode) == 0o600
    record = _record(data_dir)
    messages = _fit_messages(out_path)
    (file_id,) = messages["file_id"]
    assert file_id["type"] == "activity"
    records = messages["record"]
    assert len(records) == len(record.samples) == 115
    for fit, sample in zip(records, record.samples, strict=True):
        assert fit["timestamp"] == datetime.fromtimestamp(sample.t, UTC)
        assert fit["speed"] * 3.6 == pytest.approx(sample.belt_speed_kmh, abs=0.004)
        assert sample.distance_m is not None
        assert fit["distance"] == pytest.approx(sample.distance_m, abs=0.01)
        assert fit["heart_rate"] == sample.heart_rate_bpm
    laps = messages["lap"]
    assert len(laps) == 3
    assert [lap["total_elapsed_time"] for lap in laps] == [30, 60, 19]
    assert laps[1]["total_distance"] == pytest.approx(60 * 2.0 / 3.6, abs=0.02)
    assert laps[1]["max_speed"] * 3.6 == pytest.approx(2.0, abs=0.004)
    assert {(lap["sport"], lap["sub_sport"]) for lap in laps} == {("walking", "treadmill")}
    (session,) = messages["session"]
    assert session["sport"] == "walking"
    assert session["sub_sport"] == "treadmill"
    assert session["num_laps"] == 3
    assert session["total_distance"] == pytest.approx(record.totals.distance_m, abs=0.01)
    assert session["max_speed"] * 3.6 == pytest.approx(2.4, abs=0.004)
    assert session["max_heart_rate"] == record.totals.peak_heart_rate_bpm == 101
    assert session["avg_heart_rate"] == round(record.totals.avg_heart_rate_bpm or 0)
    (activity,) = messages["activity"]
    assert activity["num_sessions"] == 1
    assert [e["event_type"] for e in messages["event"]] == ["start", "stop_all"]


def test_export_tcx(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(
        capsys, "export", SID, "--format", "tcx", "-o", str(tmp_path), "--data-dir", str(data_dir)
    )
    assert code == 0
    (path,) = tmp_path.glob("retro-treadmill-20260921-141320-5e550000.tcx")
    record = _record(data_dir)
    ns = {"t": TCX_NS, "x": TCX_EXT_NS}
    root = ET.parse(path).getroot()
    activity = root.find("t:Activities/t:Activity", ns)
    assert activity is not None
    assert activity.findtext("t:Id", namespaces=ns) == "2026-09-21T14:13:20Z"
    laps = activity.findall("t:Lap", ns)
    assert len(laps) == 3
    assert [lap.findtext("t:TotalTimeSeconds", namespaces=ns) for lap in laps] == [
        "30.0", "60.0", "19.0",
    ]  # fmt: skip
    assert float(laps[0].findtext("t:DistanceMeters", "", ns)) == pytest.approx(13.33, abs=0.01)
    points = root.findall(".//t:Trackpoint", ns)
    assert len(points) == len(record.samples)
    # The turn-around stop (5 samples) stays in the second lap's track.
    assert [len(lap.findall(".//t:Trackpoint", ns)) for lap in laps] == [30, 65, 20]
    for point, sample in zip(points, record.samples, strict=True):
        when = datetime.fromisoformat(point.findtext("t:Time", "", ns).replace("Z", "+00:00"))
        assert when.timestamp() == pytest.approx(sample.t)
        assert float(point.findtext("t:DistanceMeters", "", ns)) == pytest.approx(
            sample.distance_m or 0.0, abs=0.01
        )
        assert int(point.findtext("t:HeartRateBpm/t:Value", "", ns)) == sample.heart_rate_bpm
        speed = float(point.findtext("t:Extensions/x:TPX/x:Speed", "", ns))
        assert speed * 3.6 == pytest.approx(sample.belt_speed_kmh, abs=0.002)


def test_export_csv_to_stdout(data_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code = main(["export", SID, "--format", "csv", "-o", "-", "--data-dir", str(data_dir)])
    assert code == 0
    text = capsysbinary.readouterr().out.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    record = _record(data_dir)
    assert len(rows) == len(record.samples)
    for row, sample in zip(rows, record.samples, strict=True):
        assert datetime.fromisoformat(row["time_utc"].replace("Z", "+00:00")).timestamp() == (
            pytest.approx(sample.t)
        )
        assert float(row["belt_speed_kmh"]) == pytest.approx(sample.belt_speed_kmh)
        assert float(row["belt_speed_mph"]) == pytest.approx(
            (sample.belt_speed_kmh or 0) / 1.609344, abs=0.001
        )
        assert float(row["distance_m"]) == pytest.approx(sample.distance_m or 0, abs=0.005)
        assert int(row["heart_rate_bpm"]) == sample.heart_rate_bpm
        assert row["segment_index"] == (
            "" if sample.segment_index is None else str(sample.segment_index)
        )
        assert row["direction"] == (sample.direction or "")
    assert rows[92]["state"] == "paused"


def test_export_to_an_unwritable_place(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "x.fit"
    code, _, err = _run(
        capsys, "export", SID, "--format", "fit", "-o", str(target), "--data-dir", str(data_dir)
    )
    assert code == 1
    assert f"cannot write {target}" in err


def test_options_before_or_after_show(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["history", "--json", "--data-dir", str(data_dir), "show", SID[:6]],
        ["history", "show", SID[:6], "--json", "--data-dir", str(data_dir)],
    ):
        code, out, _ = _run(capsys, *argv)
        assert code == 0
        assert json.loads(out)["id"] == SID


def test_readers_show_an_interrupted_session_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sessions.db"
    samples = factory.samples()
    with Store.open(path) as store, store.transaction():
        store.begin_session(factory.info(SID), writer_pid=2**22 + 1, heartbeat_at=0.0)
        store.add_samples(SID, samples[:50])
    before = path.read_bytes()
    code, out, _ = _run(capsys, "history", "--json", "--data-dir", str(tmp_path))
    assert code == 0
    (row,) = json.loads(out)
    assert row["outcome"] == "interrupted"
    assert row["ended_at"] == "2026-09-21T14:14:09Z"  # the last sample kept
    assert row["duration_s"] == 49
    code, out, _ = _run(capsys, "history", "show", SID, "--data-dir", str(tmp_path))
    assert "outcome: interrupted" in out
    assert path.read_bytes() == before
    with Store.open(path, recover=False) as store:
        outcome = store._db.execute("SELECT outcome FROM sessions").fetchone()
    assert outcome == (None,)  # still unmarked: the next recording closes it


@pytest.mark.parametrize("fmt", ["fit", "tcx", "csv"])
def test_a_session_without_samples_still_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    with Store.open(tmp_path / "sessions.db") as store, store.transaction():
        store.begin_session(factory.info(SID), writer_pid=2**22 + 1, heartbeat_at=0.0)
    out_path = tmp_path / f"empty.{fmt}"
    code, _, _ = _run(
        capsys, "export", SID, "--format", fmt, "-o", str(out_path), "--data-dir", str(tmp_path)
    )
    assert code == 0
    if fmt == "fit":
        messages = _fit_messages(out_path)
        assert "record" not in messages
        assert messages["session"][0]["num_laps"] == 0
    elif fmt == "tcx":
        root = ET.parse(out_path).getroot()
        assert root.findall(".//{*}Trackpoint") == []
    else:
        assert out_path.read_text().splitlines() == [",".join(CSV_COLUMNS)]
