"""Reports: the plotted data read back against the store (from the embedded JSON and from the
SVG paths themselves), self-containment, and a real render in headless Chromium to PNG and A4
PDF (1-3 pages)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from retro_treadmill.cli import main
from retro_treadmill.records.paths import DATA_ENV
from retro_treadmill.records.ratings import Rating
from retro_treadmill.records.store import Store
from retro_treadmill.records.totals import compute_totals
from retro_treadmill.records.walkers import Walker, WalkerCaps
from retro_treadmill.units import kmh_to_mph, mph_to_kmh
from tests.records import factory

IDS = [f"{n}c" * 16 for n in range(3)]
DAY = 86400.0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three rated sessions of W-17 (knee-oa-week1) and one of another walker."""
    folder = tmp_path / "data"
    monkeypatch.setenv(DATA_ENV, str(folder))
    monkeypatch.setenv("RETRO_TREADMILL_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("[safety]\nmax_heart_rate_bpm = 150\n")
    folder.mkdir()
    with Store.open(folder / "sessions.db") as store:
        store.add_walker(
            Walker(
                "W-17",
                WalkerCaps(max_speed_kmh=mph_to_kmh(1.2), max_heart_rate_bpm=140),
                name="Never Printed",
                program="knee-oa-6-weeks",
                created_at=1.0,
            )
        )
        for number, (sid, walker) in enumerate([*((i, "W-17") for i in IDS), ("9d" * 16, "W-2")]):
            start = factory.START + number * DAY
            info = factory.info(sid, walker=walker, started_at=start, profile="knee-oa-week1")
            samples = factory.samples(start)
            events = factory.events(start) if number == 1 else []
            with store.transaction():
                store.begin_session(info, writer_pid=os.getpid(), heartbeat_at=1e12)
                store.add_samples(sid, samples)
                store.add_events(sid, events)
                store.finish_session(
                    sid,
                    ended_at=samples[-1].t,
                    outcome="completed",
                    exit_code=0,
                    totals=compute_totals(samples, events),
                )
            store.rate(sid, Rating(pain=number, effort=2.5 + number, note=f"n{number} <b>"))
    return folder


def _report(tmp_path: Path, *argv: str) -> str:
    out = tmp_path / "r.html"
    assert main(["report", *argv, "-o", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def _data(text: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def _path_points(svg: str, gid: str) -> list[tuple[float, float]]:
    """The vertices of the path matplotlib drew for the line with this gid."""
    match = re.search(rf'<g id="{re.escape(gid)}">\s*<path d="([^"]+)"', svg)
    assert match, gid
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", match.group(1))]
    return list(zip(numbers[0::2], numbers[1::2], strict=True))


def test_the_session_chart_plots_what_the_store_holds(data_dir: Path, tmp_path: Path) -> None:
    text = _report(tmp_path, IDS[1][:6])
    data = _data(text)
    with Store.open(data_dir / "sessions.db") as store:
        record = store.load(IDS[1])
    samples = record.samples
    assert data["session_id"] == IDS[1]
    assert data["belt_speed"] == [
        round(kmh_to_mph(s.belt_speed_kmh), 4) if s.belt_speed_kmh is not None else None
        for s in samples
    ]
    assert data["heart_rate"] == [s.heart_rate_bpm for s in samples]
    assert data["minutes"] == [round(s.elapsed_s / 60, 4) for s in samples]
    assert [(e["kind"], e["name"]) for e in data["events"]] == [
        (e.kind, e.name) for e in record.events
    ]
    # The SVG itself: one vertex per sample, and the vertices are the stored speeds under one
    # affine map (the axes' transform), so the drawn line is the stored series.
    points = _path_points(text, "belt-speed")
    speeds = [kmh_to_mph(s.belt_speed_kmh) for s in samples if s.belt_speed_kmh is not None]
    assert len(points) == len(speeds)
    low = min(range(len(speeds)), key=speeds.__getitem__)
    high = max(range(len(speeds)), key=speeds.__getitem__)
    scale = (points[high][1] - points[low][1]) / (speeds[high] - speeds[low])
    for (_, y), v in zip(points, speeds, strict=True):
        assert y == pytest.approx(points[low][1] + scale * (v - speeds[low]), abs=0.02)
    assert scale < 0  # SVG y grows downward: faster is higher on the page
    xs = [x for x, _ in points]
    assert xs == sorted(xs)
    # The walker's speed cap (1.2 mph) and the heart-rate limit (140, tighter than the
    # clinic's 150) are drawn; every alarm and operator action is marked on the timeline.
    assert 'id="speed-cap"' in text
    assert 'id="hr-limit"' in text
    assert "heart rate stop above 140 bpm" in text
    for number in range(1, len(record.events) + 1):
        assert f'id="event-{number}-0"' in text
    assert "program stage</dt><dd>knee-oa-6-weeks: week 1, session 2 of 3" in text
    assert "pain 1/10" in text
    assert "n1 &lt;b&gt;" in text  # notes are escaped


def test_the_walker_report_lists_their_sessions_only(data_dir: Path, tmp_path: Path) -> None:
    text = _report(tmp_path, "--walker", "W-17")
    data = _data(text)
    assert [s["session_id"] for s in data["sessions"]] == IDS
    assert [s["pain"] for s in data["sessions"]] == [0, 1, 2]
    assert [s["effort"] for s in data["sessions"]] == [2.5, 3.5, 4.5]
    with Store.open(data_dir / "sessions.db") as store:
        rows = {r.session_id: r for r in store.list_sessions(walker_id="W-17")}
    for entry in data["sessions"]:
        totals = rows[entry["session_id"]].totals
        assert entry["backward_minutes"] == round(totals.backward_s / 60, 3)
        assert totals.peak_speed_kmh is not None
        assert entry["peak_speed"] == round(kmh_to_mph(totals.peak_speed_kmh), 4)
    assert [p[1] for p in _path_points(text, "pain")] == sorted(
        (p[1] for p in _path_points(text, "pain")), reverse=True
    )
    assert len(re.findall(r'<tr data-session-id="', text)) == 3
    assert "9d9d" not in text
    assert "Never Printed" not in text  # names stay in the database
    # Session 2 had a heart-rate alarm: session 3 started week 1 again, and counted.
    assert [s["stage"] for s in data["sessions"]] == [
        "week 1, session 1 of 3",
        "week 1, session 2 of 3",
        "week 1, session 1 of 3",
    ]
    assert "week 1, session 2 of 3: 1 session completed at this stage, pain 2/10" in text
    since = _report(tmp_path, "--walker", "W-17", "--since", "2026-09-22T15:00+00:00")
    assert [s["session_id"] for s in _data(since)["sessions"]] == IDS[2:]


def test_reports_are_self_contained(data_dir: Path, tmp_path: Path) -> None:
    for text in (_report(tmp_path, IDS[0][:5]), _report(tmp_path, "--walker", "W-17")):
        assert not re.search(r"<(link|img|iframe|object|embed)\b", text)
        # Only references inside the page (SVG <use xlink:href="#id">).
        assert not re.search(r"\b(src|href)\s*=\s*\"(?!#)", text)
        assert "@import" not in text
        assert not re.search(r"url\((?!#)", text)  # clip-path="url(#id)" is in the page
        # Only XML namespace names, which are identifiers, never loaded.
        urls = set(re.findall(r"https?://[^\"' )]+", text))
        assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
        assert "<script" not in text.replace(
            '<script type="application/json" id="report-data">', ""
        )


def test_report_arguments(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 2
    assert "give a SESSION_ID or --walker ID" in capsys.readouterr().err
    assert main(["report", "ffff"]) == 2
    assert "no session with id 'ffff'" in capsys.readouterr().err
    assert main(["report", "--walker", "W-99"]) == 2
    assert "no walker 'W-99'" in capsys.readouterr().err


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _chromium(*args: str) -> None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Debian's chromium is needed (make system-deps installs it)"
    with tempfile.TemporaryDirectory(prefix="retro-chromium-") as profile:
        subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            check=True,
            capture_output=True,
            timeout=90,
        )


def _pdf_pages(pdf: Path) -> int:
    info = subprocess.run(
        ["pdfinfo", str(pdf)], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)
    assert match, info
    assert "(A4)" in info
    return int(match.group(1))


@pytest.mark.parametrize("which", ["session", "walker"])
def test_reports_render_in_headless_chromium(data_dir: Path, tmp_path: Path, which: str) -> None:
    """The PNG and PDF stay in the test's tmp_path as artefacts (pytest keeps the last runs)."""
    from PIL import Image

    argv = [IDS[1]] if which == "session" else ["--walker", "W-17"]
    html = tmp_path / f"{which}.html"
    assert main(["report", *argv, "-o", str(html)]) == 0
    pdf, png = tmp_path / f"{which}.pdf", tmp_path / f"{which}.png"
    _chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri())
    _chromium("--window-size=1000,1400", f"--screenshot={png}", html.as_uri())
    assert 1 <= _pdf_pages(pdf) <= 3
    with Image.open(png) as image:
        assert image.size == (1000, 1400)
        grey = image.convert("L")
        histogram = grey.histogram()
        dark = sum(histogram[:128]) / (image.size[0] * image.size[1])
    # Text and chart lines are drawn (a blank or error page is nearly all white).
    assert 0.005 < dark < 0.5
