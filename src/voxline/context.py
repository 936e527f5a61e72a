"""What a running Voxline holds: settings, the database, the secret box. Built once by the app or the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from voxline.core.crypto import SecretBox
from voxline.settings import Settings
from voxline.store.db import Database


@dataclass
class Context:
    settings: Settings
    db: Database
    box: SecretBox

    @classmethod
    def build(cls, settings: Settings) -> Context:
        db = Database(settings.resolved_database_url, settings.database_schema)
        return cls(settings, db, SecretBox(settings.resolved_encryption_key))

    async def close(self) -> None:
        await self.db.dispose()
