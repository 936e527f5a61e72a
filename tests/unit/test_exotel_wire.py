"""Exotel's wire without a network: its unsigned callbacks, and the voicebot handshake that names
the session in custom parameters (there is no answer document)."""

from __future__ import annotations

import asyncio
import json

from voxline.core.call_status import CallStatus
from voxline.telephony.carrier import CallUrls
from voxline.telephony.exotel import CARRIER


class _Socket:
    """Just enough of a websocket to replay the messages Exotel opens a stream with."""

    def __init__(self, messages: list[dict]) -> None:
        self.messages = [json.dumps(m) for m in messages]

    async def receive_text(self) -> str:
        return self.messages.pop(0)


def test_terminal_and_answered_events() -> None:
    done = CARRIER.parse_status(
        {"CallSid": "x", "EventType": "terminal", "Status": "completed", "ConversationDuration": "12"}
    )
    assert done.status is CallStatus.COMPLETED and done.duration_seconds == 12 and done.carrier_call_id == "x"
    assert CARRIER.parse_status({"EventType": "answered", "Status": "in-progress"}).status is CallStatus.IN_PROGRESS
    busy = CARRIER.parse_status({"EventType": "terminal", "Status": "busy", "DialCallStatus": "rejected by callee"})
    assert busy.status is CallStatus.BUSY and "rejected by callee" in busy.error_message


def test_there_is_no_answer_document() -> None:
    assert CARRIER.answer_document(CallUrls("a", "s", "m", "w", "t"), "c", "s") == ""
    assert CARRIER.answer_media_type == ""


def test_the_handshake_names_the_session_and_token_from_custom_parameters() -> None:
    socket = _Socket(
        [
            {"event": "connected"},
            {
                "event": "start",
                "stream_sid": "st1",
                "start": {
                    "stream_sid": "st1",
                    "call_sid": "ca1",
                    "custom_parameters": "session_id=s1&token=t1",
                    "media_format": {"encoding": "raw/slin", "sample_rate": "8000"},
                },
            },
        ]
    )
    handshake = asyncio.run(CARRIER.accept_media(socket, {}))  # type: ignore[arg-type]
    assert handshake.stream_id == "st1" and handshake.carrier_call_id == "ca1"
    assert handshake.params == {"session_id": "s1", "token": "t1"}
