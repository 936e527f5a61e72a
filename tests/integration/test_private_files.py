"""The data dir is 0700 and every file Voxline writes there (SQLite database, its WAL and shared memory,
the generated key, recordings) is 0600, whatever the umask; a data dir left 0755/0644 is tightened."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from voxline.settings import Settings
from voxline.store.db import Database
from voxline.store.migrate import upgrade
from voxline.voice.recording import write_wav


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


async def _start_like_a_server(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    settings.resolved_encryption_key  # noqa: B018 - what `voxline serve` does first
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    try:
        async with db.transaction() as s:  # a write: SQLite creates the -wal and -shm files now
            await s.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            await s.execute(text("INSERT INTO probe VALUES (1)"))
        write_wav(data_dir / "recordings" / "s1.wav", b"\0\0\0\0" * 80, 8000)
        for name in ("voxline.db", "voxline.db-wal", "voxline.db-shm", "encryption.key", "recordings/s1.wav"):
            assert _mode(data_dir / name) == 0o600, name
        assert _mode(data_dir) == 0o700
        assert _mode(data_dir / "recordings") == 0o700
    finally:
        await db.dispose()


async def test_a_fresh_data_dir_is_owner_only(tmp_path, loose_umask):
    await _start_like_a_server(tmp_path / "data")


async def test_a_data_dir_left_world_readable_is_tightened(tmp_path, loose_umask):
    data = tmp_path / "data"
    await _start_like_a_server(data)
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    await _start_like_a_server(data)
