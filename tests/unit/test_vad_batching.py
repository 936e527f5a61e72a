"""The process-wide Silero batcher and the level gate in front of it, on real speech (Piper) and real noise."""

from __future__ import annotations

import asyncio
from importlib import resources

import numpy as np
import pytest
from pipecat.audio.vad.silero import SileroOnnxModel
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from piper import SynthesisConfig

from voxline.devtools.twilio_peer import to_8k
from voxline.settings import Settings
from voxline.voice import local_models
from voxline.voice.vad import BatchedSileroVAD, SileroStream, batcher, confidences, window_levels

RATE = 16000
WINDOW = 512


def _speech_16k(text: str, dbfs: float) -> np.ndarray:
    """A Piper line on the telephone band at 16 kHz (as the pipeline hears a call), at the given RMS level.
    Piper's sampling noise is off, so the same words give the same audio on every run."""
    voice = local_models.piper_voice()
    chunks = list(voice.synthesize(text, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)))
    raw = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), dtype=np.int16)
    pcm8 = to_8k(raw, chunks[0].sample_rate).astype(np.float64)
    pcm8 = pcm8[: np.flatnonzero(np.abs(pcm8) > 500)[-1] + 1]
    pcm = np.repeat(pcm8, 2)  # 8 → 16 kHz
    rms = np.sqrt(np.mean(pcm[np.abs(pcm) > 300] ** 2))
    return np.clip(pcm * (32768 * 10 ** (dbfs / 20) / rms), -32768, 32767).astype(np.int16)


def _noise(secs: float, dbfs: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.standard_normal(int(secs * RATE)) * 32768 * 10 ** (dbfs / 20), -32768, 32767).astype(np.int16)


def _windows(pcm: np.ndarray) -> np.ndarray:
    n = len(pcm) // WINDOW
    return pcm[: n * WINDOW].reshape(n, WINDOW)


def _pipecat_reference(pcm: np.ndarray) -> list[float]:
    path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
    model = SileroOnnxModel(path, force_onnx_cpu=True)
    return [float(model(w.astype(np.float32) / 32768.0, RATE)[0][0]) for w in _windows(pcm)]


async def test_batched_runs_give_each_stream_the_confidences_pipecats_model_gives_it_alone():
    streams = [
        np.concatenate([_noise(0.3, -60, 1), _speech_16k("I would like to book an appointment.", -24)]),
        np.concatenate([_speech_16k("Yes, that works for me.", -30), _noise(0.5, -55, 2)]),
        _noise(1.5, -40, 3),
    ]
    expected = [_pipecat_reference(pcm) for pcm in streams]
    rows_before = batcher().rows
    runs_before = batcher().runs

    async def feed(pcm: np.ndarray) -> list[float]:
        stream, out = SileroStream(RATE), []
        windows = _windows(pcm)
        for start in range(0, len(windows), 2):  # two windows per submission, as 40 ms frames bring them
            out += await confidences(stream, windows[start : start + 2])
        return out

    got = await asyncio.gather(*(feed(pcm) for pcm in streams))
    for mine, theirs in zip(got, expected, strict=True):
        assert len(mine) == len(theirs)
        assert np.allclose(mine, theirs, atol=1e-4)
    assert max(expected[0]) > 0.9 and max(expected[2]) < 0.5  # speech is speech, noise is not
    scored = batcher().rows - rows_before
    assert scored == sum(len(e) for e in expected)
    assert batcher().runs - runs_before < scored  # streams shared runs


async def _states(vad: BatchedSileroVAD, pcm: np.ndarray) -> list[VADState]:
    frame = 640 * 2  # 40 ms of 16 kHz PCM16, the pipeline's input frames
    data = pcm.tobytes()
    return [await vad.analyze_audio(data[i : i + frame]) for i in range(0, len(data), frame)]


def _vad() -> BatchedSileroVAD:
    """The analyzer as a call gets it, with the deployment's default start and stop windows."""
    defaults = Settings.model_fields
    vad = BatchedSileroVAD(
        params=VADParams(stop_secs=defaults["vad_stop_secs"].default, start_secs=defaults["vad_start_secs"].default)
    )
    vad.set_sample_rate(RATE)
    return vad


@pytest.mark.parametrize("dbfs", [-20, -26, -32])
async def test_a_short_hello_at_telephone_level_is_heard_as_speech_and_then_ends(dbfs):
    hello = _speech_16k("Hello?", dbfs)
    assert len(hello) < 0.45 * RATE
    pcm = np.concatenate([_noise(0.3, -65, 4), hello, _noise(0.8, -65, 5)])
    states = await _states(_vad(), pcm)
    assert VADState.SPEAKING in states
    assert states[-1] == VADState.QUIET


async def test_a_quiet_line_never_reaches_the_model_and_a_noisy_one_is_scored_but_not_speech():
    vad = _vad()
    before = batcher().rows
    states = await _states(vad, _noise(2.0, -70, 6))
    assert set(states) == {VADState.QUIET}
    assert batcher().rows == before  # under the level gate: no model run at all

    states = await _states(vad, _noise(2.0, -40, 7))
    assert VADState.SPEAKING not in states
    assert batcher().rows - before >= 60  # above the gate, every window was scored


def test_window_levels_follow_the_rms_in_dbfs():
    tone = (32767 * 10 ** (-20 / 20) * np.sqrt(2) * np.sin(np.arange(WINDOW) * 0.3)).astype(np.int16)
    level = window_levels(tone.reshape(1, WINDOW))[0]
    assert abs((level * 100 - 110) - (-20)) < 0.5
    assert window_levels(np.zeros((1, WINDOW), np.int16))[0] == 0.0
