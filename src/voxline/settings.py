"""All configuration, read from the environment (VOXLINE_*).

The embedded default needs nothing set: an SQLite file and a generated encryption key live in the
data directory (`./.voxline/` unless VOXLINE_DATA_DIR says otherwise).
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOXLINE_", extra="ignore")

    data_dir: Path = Field(default=Path(".voxline"), description="Where SQLite, keys and recordings live")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/voxline.db",
    )
    database_schema: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="PostgreSQL schema to use (search_path); default the server's",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="URL carriers and browsers use to reach this server"
    )
    encryption_key: str | None = Field(
        default=None,
        description="base64 32-byte key for credentials at rest; generated into the data dir when unset",
    )
    log_level: str = "info"
    rate_limit_per_min: int = Field(default=60, ge=1, description="General requests per minute per key")
    calls_rate_limit_per_min: int = Field(default=10, ge=1, description="/calls/* requests per minute per key")
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_secs: int = 24 * 3600

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxline.db').resolve()}"

    @cached_property
    def resolved_encryption_key(self) -> bytes:
        """The 32-byte data key: from settings, else from `<data_dir>/encryption.key`, made on first use."""
        if self.encryption_key:
            return _decode_key(self.encryption_key)
        path = self.data_dir / "encryption.key"
        if path.exists():
            return _decode_key(path.read_text().strip())
        self.data_dir.mkdir(parents=True, exist_ok=True)
        encoded = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        # Create exclusively with owner-only permissions; a concurrent first start reads the winner's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _decode_key(path.read_text().strip())
        with os.fdopen(fd, "w") as fh:
            fh.write(encoded + "\n")
        return _decode_key(encoded)


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
    if len(raw) != 32:
        raise ValueError("VOXLINE_ENCRYPTION_KEY must be 32 bytes, base64-encoded")
    return raw
