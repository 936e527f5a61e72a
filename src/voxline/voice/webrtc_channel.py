"""A browser's WebRTC peer as a live call's media: Pipecat's SmallWebRTC transport on aiortc.

The browser test session answers the page's SDP offer here, waits until the peer connects, and hands the
runtime a MediaChannel whose `peer` is set; the runtime builds this transport where a phone call has its
carrier websocket. Audio is raw PCM on both sides of the transport (aiortc does Opus and the jitter
buffer); the turn clock is stamped as on the phone, so per-turn latency means the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from pipecat.frames.frames import Frame, OutputAudioRawFrame, VADUserStoppedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCOutputTransport, SmallWebRTCTransport

from voxline.voice.pacing import TurnClock
from voxline.voice.transcript import Turn

log = logging.getLogger("voxline.voice")

APP_MESSAGE_TYPE = "voxline-transcript"  # what the join page listens for on the data channel


async def answer_offer(
    sdp: str, sdp_type: str, ice_servers: list[str] | None = None
) -> tuple[SmallWebRTCConnection, dict[str, Any]]:
    """A new peer for the browser's offer, and the answer to send back. aiortc gathers its candidates
    before it returns the answer, so the page needs no trickle ICE."""
    peer = SmallWebRTCConnection(ice_servers=ice_servers or None)
    try:
        await peer.initialize(sdp=sdp, type=sdp_type)
    except Exception:
        await close(peer)
        raise
    answer = peer.get_answer()
    assert answer is not None, "initialize() sets the answer"
    return peer, {"sdp": answer["sdp"], "type": answer["type"]}


async def wait_connected(peer: SmallWebRTCConnection, timeout: float) -> bool:  # noqa: ASYNC109
    """Until ICE and DTLS are up (True), or the peer failed, closed or took longer than `timeout` (False).

    The conversation starts only then: a greeting spoken into a peer that is not connected yet is lost."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = peer.pc.connectionState
        if state == "connected":
            return True
        if state in ("failed", "closed"):
            return False
        await asyncio.sleep(0.02)
    return False


async def close(peer: SmallWebRTCConnection) -> None:
    """Close the peer (the page sees the agent leave); closing twice is harmless."""
    with contextlib.suppress(Exception):
        await peer.disconnect()


def transcript_feed(peer: SmallWebRTCConnection) -> Callable[[Turn], None]:
    """Each finished turn, sent to the page on the data channel for its live transcript."""

    def send(turn: Turn) -> None:
        with contextlib.suppress(Exception):  # a page without a data channel just shows no live transcript
            peer.send_app_message({"type": APP_MESSAGE_TYPE, "role": turn.role, "content": turn.content})

    return send


class TimedWebRTCOutput(SmallWebRTCOutputTransport):
    """Pipecat's SmallWebRTC output, stamping the turn clock as the carrier output does (voice/pacing.py):
    when the user stopped speaking, and the first bot audio handed to the peer after it. Pacing is the
    peer's own: its audio track takes one 10 ms chunk per 10 ms of wall time."""

    def __init__(self, *args: Any, clock: TurnClock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = clock

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._turns.user_stopped(frame)
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        ok = await super().write_audio_frame(frame)
        if ok:
            self._turns.audio_sent()
        return ok


class BrowserTransport(SmallWebRTCTransport):
    """SmallWebRTCTransport with the timed output above."""

    def __init__(self, peer: SmallWebRTCConnection, clock: TurnClock) -> None:
        super().__init__(
            peer,
            TransportParams(audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=2),
        )
        self._clock = clock

    def output(self) -> SmallWebRTCOutputTransport:
        if not self._output:
            self._output = TimedWebRTCOutput(self._client, self._params, clock=self._clock, name=self._output_name)
        return self._output
