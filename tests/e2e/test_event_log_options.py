"""``--event-log``: a path that cannot work is an error before anything connects (issue 13
point 7); a log that fails mid-session is a warning (tests/service/test_summary.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, cli_argv

RUN = ["run", "--profile", "demo", "--simulate", "--headless", "--yes-preflight"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_argv(*RUN, *args), cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("", "--event-log needs a file path"),
        ("   ", "--event-log needs a file path"),
        ("{tmp}/no-such-folder/events.jsonl", "does not exist"),
        ("{tmp}", "this is a folder"),
        ("/dev/full", "No space left on device"),
    ],
    ids=["empty", "blank", "missing-folder", "a-folder", "dev-full"],
)
def test_an_event_log_that_cannot_be_written_is_refused_at_start(
    tmp_path: Path, path: str, says: str
) -> None:
    result = run("--event-log", path.format(tmp=tmp_path))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Session summary" not in result.stdout  # nothing started
    assert not (tmp_path / "no-such-folder").exists()  # not silently created
