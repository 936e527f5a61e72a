"""The data dir and what we write into it (SQLite database and its WAL, key, recordings) are the owner's only.

Directories 0700, files 0600, whatever the process umask: the database holds call transcripts and sealed
carrier credentials, and the recordings are people's voices.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create the directory (and missing parents) owner-only; tighten it if it exists and is ours."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create an empty file owner-only unless it exists; tighten it if it exists and is ours."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def private_sqlite(database: Path) -> None:
    """Before SQLite opens the file: create it 0600, so the WAL and shared-memory files SQLite creates next to
    it take the same mode (SQLite copies the database file's permissions), and tighten ones left by older runs."""
    if not database.parent.exists():
        private_dir(database.parent)
    private_file(database)
    for suffix in SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            _tighten(companion, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # not ours, or a read-only mount: leave it as the operator set it
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
