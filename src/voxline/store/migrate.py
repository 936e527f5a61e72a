"""Apply the schema migrations (Alembic) programmatically: `voxline migrate`, `voxline serve`, the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from voxline.store.db import prepare_sqlite_file

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: str, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(url: str, schema: str | None = None) -> None:
    """Bring the database to the newest schema. Must run outside an event loop (it starts its own)."""
    prepare_sqlite_file(url)
    command.upgrade(alembic_config(url, schema), "head")
