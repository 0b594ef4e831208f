"""The command line's top level."""

from __future__ import annotations

import subprocess
import sys

import pytest

from retro_treadmill import __version__
from retro_treadmill.cli import main


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"retro-treadmill {__version__}"


def test_no_command_prints_help_and_exits_with_usage_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    assert "usage: retro-treadmill" in capsys.readouterr().out


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "retro_treadmill", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert __version__ in out.stdout


def test_log_lines_are_for_people_and_never_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from retro_treadmill.cli import configure_logging

    root = logging.getLogger()
    before = list(root.handlers)
    configure_logging()
    configure_logging()  # once per process, however often main() runs
    assert [type(h).__name__ for h in root.handlers].count("_ConsoleHandler") == 1
    log = logging.getLogger("retro_treadmill.telemetry.mqtt")
    log.warning("MQTT %s: refused; retrying in %.2f s", "mqtt://127.0.0.1:1/rt", 0.5)
    try:
        raise ValueError("invalid state")
    except ValueError:
        logging.getLogger("bumble.host").exception("Exception in callback")
    logging.debug("a library's module-level call must not install the default format")
    logging.getLogger("x").warning("after it")
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "retro-treadmill: warning: MQTT mqtt://127.0.0.1:1/rt: refused; retrying in 0.50 s",
        "retro-treadmill: error: Exception in callback (ValueError: invalid state)",
        "retro-treadmill: warning: after it",
    ]
