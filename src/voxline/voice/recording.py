"""Call recordings: a stereo WAV per session (callee left, bot right) and signed, expiring links to it.

The file lives in `<data_dir>/recordings/<session_id>.wav`. A link is
`<public_base_url>/api/v2/recordings/<session_id>.wav?exp=<unix>&sig=<hmac>`: anyone holding it may
download until `exp`, nobody can forge or extend one without the deployment's key. Links are made
when a session is shown, so every read hands out a fresh one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from voxline.private_files import private_dir, private_file
from voxline.settings import Settings

RECORDINGS = "recordings"


def recordings_dir(settings: Settings) -> Path:
    return (settings.data_dir / RECORDINGS).resolve()


def write_wav(path: Path, pcm_stereo: bytes, sample_rate: int) -> None:
    """Written owner-only (0600 in a 0700 directory): a recording is someone's voice."""
    private_dir(path.parent)
    tmp = private_file(path.with_suffix(".tmp"))
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm_stereo)
    tmp.replace(path)


@dataclass(frozen=True)
class LinkSigner:
    key: bytes
    base_url: str
    ttl_secs: int

    def sign(self, session_id: str, exp: int) -> str:
        return hmac.new(self.key, f"{session_id}.{exp}".encode(), hashlib.sha256).hexdigest()

    def link(self, session_id: str, now: float | None = None) -> tuple[str, int]:
        exp = int((now or time.time()) + self.ttl_secs)
        sig = self.sign(session_id, exp)
        url = f"{self.base_url.rstrip('/')}/api/v2/recordings/{session_id}.wav?exp={exp}&sig={sig}"
        return url, exp

    def verify(self, session_id: str, exp: int, sig: str, now: float | None = None) -> bool:
        if exp < (now or time.time()):
            return False
        return hmac.compare_digest(self.sign(session_id, exp), sig)


def signer(settings: Settings) -> LinkSigner:
    key = hmac.new(settings.resolved_encryption_key, b"voxline recording links v1", hashlib.sha256).digest()
    return LinkSigner(key, settings.public_base_url, settings.recording_link_ttl_secs)


# Recording files name their deployment by their folder; this maps a recordings folder to its signer, so
# code that only holds a session row (the JSON views) can sign a link for it.
_signers: dict[Path, LinkSigner] = {}


def register(settings: Settings) -> LinkSigner:
    s = signer(settings)
    _signers[recordings_dir(settings)] = s
    return s


def link_for(recording_path: str | None) -> str | None:
    if not recording_path:
        return None
    path = Path(recording_path)
    s = _signers.get(path.parent.resolve())
    if s is None:
        return None
    return s.link(path.stem)[0]


async def keep_registered(ctx) -> None:  # noqa: ANN001 - Context, kept loose to stay an edge module
    """Background service: makes this server's recordings linkable from any view."""
    import asyncio

    register(ctx.settings)
    await asyncio.Event().wait()
