"""Lines for a simulated callee, spoken by the offline Piper voice and brought to the phone band (8 kHz)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from voxline.devtools.twilio_peer import Line, to_8k
from voxline.voice import local_models


@lru_cache(maxsize=64)
def _speak(text: str) -> bytes:
    voice = local_models.piper_voice()
    chunks = list(voice.synthesize(text))
    pcm = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), dtype=np.int16)
    return to_8k(pcm, chunks[0].sample_rate).tobytes()


def line(text: str, trim: bool = False, **kwargs: Any) -> Line:
    """The line as 8 kHz PCM; `trim` cuts the voice's trailing silence, so the line ends where speech does."""
    pcm = np.frombuffer(_speak(text), dtype=np.int16)
    if trim:
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 500)
        if loud.size:
            pcm = pcm[: loud[-1] + 1]
    return Line(text, pcm, **kwargs)
