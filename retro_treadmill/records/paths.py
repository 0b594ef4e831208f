"""Where the session records live.

First match wins: ``--data-dir DIR``; the ``RETRO_TREADMILL_DATA`` environment variable; the
platformdirs user data directory (on Linux ``~/.local/share/retro-treadmill``). The database is
``sessions.db`` in that directory. The directory is created mode 0700 and the database file 0600:
records are health data and stay readable by their owner only.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import platformdirs

APP_NAME = "retro-treadmill"
DATA_ENV = "RETRO_TREADMILL_DATA"
"""Environment variable naming the data directory (``--data-dir`` wins over it)."""
DB_FILENAME = "sessions.db"
DIR_MODE = 0o700
FILE_MODE = 0o600


def default_data_dir() -> Path:
    """The platformdirs user data directory for retro-treadmill."""
    return platformdirs.user_data_path(APP_NAME)


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``explicit`` (``--data-dir``), else ``$RETRO_TREADMILL_DATA``, else
    :func:`default_data_dir`. Nothing is created here."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def database_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``sessions.db`` in :func:`data_dir`."""
    return data_dir(explicit) / DB_FILENAME


def ensure_private_file(path: Path) -> None:
    """Create ``path``'s directory (0700, parents as needed) and the file itself (0600) when
    missing; an existing file is made 0600. Blocking IO: call it off the event loop."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def add_data_dir_argument(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """The shared ``--data-dir DIR`` option of every command that reads or writes records
    (``default``: ``argparse.SUPPRESS`` on a subcommand whose parent has the option too)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help=f"where session records live (default: ${DATA_ENV} or {default_data_dir()})",
    )


__all__ = [
    "DATA_ENV",
    "DB_FILENAME",
    "add_data_dir_argument",
    "data_dir",
    "database_path",
    "default_data_dir",
    "ensure_private_file",
]
