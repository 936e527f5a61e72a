"""Pipecat's Silero VAD with one ONNX session per process instead of one per call.

Loading the model costs tens of milliseconds of blocked event loop at every call start, felt by every
other call on the process. The session holds no per-stream state (Silero's recurrent state is an input
and an output of each run, kept by the per-call model object), and onnxruntime sessions may be run
concurrently, so calls share it safely.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import onnxruntime
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams


@lru_cache(maxsize=1)
def _session() -> Any:
    from importlib import resources

    path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


class _SharedSessionModel(SileroOnnxModel):
    def __init__(self) -> None:  # the parent's init only builds a session and resets state
        self.session = _session()
        self.reset_states()
        self.sample_rates = [8000, 16000]


class SharedSileroVAD(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _SharedSessionModel()
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
