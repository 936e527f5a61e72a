"""The ports between a carrier's media edge (`telephony/`, `dialer/`) and whatever holds the conversation.

A carrier module accepts the media websocket in its own protocol, reads the handshake (stream and call
ids), builds the Pipecat serializer for its wire format, and the dialer hands a `MediaChannel` to a
`CallRuntime`. The runtime holds the conversation on that channel until the call ends. Carriers never know
which runtime runs; the runtime never knows which carrier it talks to. A browser test session has no
carrier: its channel carries the browser's WebRTC peer instead of a websocket. Types only: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer
    from starlette.websockets import WebSocket


@dataclass
class MediaChannel:
    websocket: WebSocket | None  # a carrier's, accepted, its handshake consumed (None: a browser's peer below)
    serializer: FrameSerializer | None  # the carrier's wire format, set up with this stream's ids (None: WebRTC)
    wire_sample_rate: int  # audio rate on the wire (8000 for every carrier we speak)
    provider: str
    call_id: str
    session_id: str
    answered_by: str | None = None  # carrier AMD verdict when known at connect time (an AnsweredBy value)
    control: CarrierControl | None = None  # the carrier's REST side of this call (hang up, transfer), if any
    extra: dict[str, Any] = field(default_factory=dict)  # carrier-specific facts (stream sid, custom params)
    # A browser test session's WebRTC peer (Pipecat's SmallWebRTCConnection, connected) instead of a websocket.
    peer: Any = None


class CarrierControl(Protocol):
    """What the runtime may ask of the carrier outside the media stream. Carriers without a way leave it None."""

    @property
    def supports_transfer(self) -> bool: ...

    async def hang_up(self) -> None:
        """End the call at the carrier (used when its media stream does not close by itself)."""

    async def transfer(self, to_number: str) -> None:
        """Move the callee to `to_number` (cold transfer); the media stream then closes."""


class CallRuntime(Protocol):
    async def run(self, channel: MediaChannel) -> None:
        """Hold the conversation until either side ends it. Must return when the websocket closes."""
