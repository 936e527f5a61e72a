"""What a running Voxline holds: settings, the database, the secret box. Built once by the app or the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from voxline.core.crypto import SecretBox
from voxline.core.timefmt import utcnow
from voxline.settings import Settings
from voxline.store.db import Database


@dataclass
class Context:
    settings: Settings
    db: Database
    box: SecretBox
    # The wall clock for rules that depend on the time of day (calling hours): a test moves it, not the wall.
    clock: Callable[[], datetime] = field(default_factory=lambda: utcnow)

    @classmethod
    def build(cls, settings: Settings) -> Context:
        db = Database(settings.resolved_database_url, settings.database_schema)
        return cls(settings, db, SecretBox(settings.resolved_encryption_key))

    async def close(self) -> None:
        await self.db.dispose()
