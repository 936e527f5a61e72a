"""Telephone audio for the sandbox: G.711 mu-law, 16-bit PCM tones, and a rough pitch check.

The tests use pitch to prove audio crossed the wire both ways: the callee plays one tone, the
responder another, and each side finds the other's tone in what it recorded.
"""

from __future__ import annotations

import numpy as np

RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 160 samples: 160 bytes of mu-law, 320 bytes of PCM16

_BIAS, _CLIP = 0x84, 32635


def tone(hz: float, secs: float, amplitude: float = 0.3) -> bytes:
    """PCM16 little-endian mono at 8 kHz."""
    t = np.arange(int(RATE * secs)) / RATE
    return (np.sin(2 * np.pi * hz * t) * amplitude * 32767).astype("<i2").tobytes()


def frames(pcm: bytes, frame_bytes: int = FRAME_SAMPLES * 2) -> list[bytes]:
    return [pcm[i : i + frame_bytes] for i in range(0, len(pcm) - frame_bytes + 1, frame_bytes)]


def ulaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    x = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(x)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (x >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype("<i2").tobytes()


def dominant_hz(pcm: bytes, rate: int = RATE) -> float:
    """The strongest frequency in the recording (0.0 for silence)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if len(x) < 64 or not np.any(x):
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def seconds(pcm: bytes, rate: int = RATE) -> float:
    return len(pcm) / 2 / rate
