"""baresip as a real callee on loopback: it answers by itself, speaks a WAV into the call (aufile) and
records what it hears (sndfile writes the decoded audio of each call to a WAV file)."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from dataclasses import dataclass
from pathlib import Path

from tests.integration.sip.conftest import binary, free_udp_port

MODULES = Path("/usr/lib/baresip/modules")


@dataclass
class Baresip:
    port: int
    proc: asyncio.subprocess.Process
    home: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def recording(self) -> bytes:
        """What baresip heard on its call: 16-bit mono PCM at the WAV's own rate (8 kHz for PCMU)."""
        files = sorted((self.home / "rec").glob("dump-*-dec.wav"))
        if not files:
            raise AssertionError(f"baresip recorded nothing: {self.log()}")
        with wave.open(str(files[-1])) as w:
            assert w.getframerate() == 8000 and w.getsampwidth() == 2, (w.getframerate(), w.getsampwidth())
            return w.readframes(w.getnframes())

    def log(self) -> str:
        path = self.home / "baresip.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def _write_wav(path: Path, pcm8k: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm8k)


async def start_baresip(
    home: Path, user: str, speech8k: bytes, *, lead_silence_secs: float = 0.0, certificate: Path | None = None
) -> Baresip:
    """baresip answering calls to `user`, speaking `speech8k` (PCM16 8 kHz) once, then silence. With a
    `certificate` (PEM: certificate and key) it also takes SIP over TLS, on its port + 1."""
    exe = binary("baresip", "baresip")
    port = free_udp_port()
    await asyncio.to_thread(_configure, home, port, user, speech8k, lead_silence_secs, certificate)
    log = (home / "baresip.log").open("wb")  # noqa: ASYNC230 - handed to the child process
    proc = await asyncio.create_subprocess_exec(
        exe, "-f", str(home), "-t", "120", stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
    )
    for _ in range(100):  # wait until it listens
        await asyncio.sleep(0.05)
        if proc.returncode is not None:
            raise AssertionError(f"baresip did not start: {(home / 'baresip.log').read_text()}")  # noqa: ASYNC240
        if "baresip is ready" in (home / "baresip.log").read_text(errors="replace"):  # noqa: ASYNC240
            break
    return Baresip(port, proc, home)


def _configure(
    home: Path, port: int, user: str, speech8k: bytes, lead_silence_secs: float, certificate: Path | None = None
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "rec").mkdir(exist_ok=True)
    silence = b"\x00\x00" * int(8000 * lead_silence_secs)
    _write_wav(home / "speak.wav", silence + speech8k + b"\x00\x00" * 8000 * 30)
    (home / "config").write_text(
        f"""poll_method epoll
sip_listen 127.0.0.1:{port}
{f"sip_certificate {certificate}" if certificate else ""}
audio_player alsa,null
audio_source aufile,{home / "speak.wav"}
audio_alert alsa,null
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
audio_buffer 20-160
rtp_tos 0
rtp_ports {port + 2}-{port + 40}
jitter_buffer_delay 1-10
module_path {MODULES}
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module_app account.so
snd_path {home / "rec"}
"""
    )
    (home / "accounts").write_text(f"<sip:{user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n")
    (home / "contacts").write_text("")
