"""Plivo's (and Vobiz's) wire without a network: V3 signatures as Plivo computes them, hang-up causes,
machine detection, and the <Stream bidirectional> answer XML."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET

from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from voxline.core.call_status import AnsweredBy, CallStatus
from voxline.telephony.carrier import CallUrls, CarrierRequest
from voxline.telephony.plivo import CARRIER as PLIVO
from voxline.telephony.plivo import Credentials
from voxline.telephony.vobiz import CARRIER as VOBIZ

TOKEN = "p" * 40
CREDS = Credentials(auth_id="MAXXXXXXXXXXXXXXXXX1", auth_token=TOKEN, from_number="+912231234567")
URL = "https://vox.example/telephony/plivo/status/c1?token=abc"


def _signed(params: dict[str, str], nonce: str = "42", token: str = TOKEN, prefix: str = "plivo") -> CarrierRequest:
    signature = get_signature_v3(token, construct_post_url(URL, dict(params)).decode(), nonce).decode()
    headers = {f"x-{prefix}-signature-v3": signature, f"x-{prefix}-signature-v3-nonce": nonce}
    return CarrierRequest("POST", URL, params, headers)


def test_a_callback_signed_by_plivo_is_accepted() -> None:
    assert PLIVO.verify(_signed({"CallUUID": "u1", "CallStatus": "ringing"}), CREDS)


def test_a_forged_or_unsigned_plivo_callback_is_refused() -> None:
    good = _signed({"CallUUID": "u1", "CallStatus": "ringing"})
    tampered = CarrierRequest("POST", URL, {"CallUUID": "u1", "CallStatus": "completed"}, good.headers)
    assert not PLIVO.verify(tampered, CREDS)
    assert not PLIVO.verify(_signed({"CallStatus": "ringing"}, token="q" * 40), CREDS)
    assert not PLIVO.verify(CarrierRequest("POST", URL, {"CallStatus": "ringing"}, {}), CREDS)
    garbage = {"x-plivo-signature-v3": "%%%", "x-plivo-signature-v3-nonce": "1"}
    assert not PLIVO.verify(CarrierRequest("POST", URL, {}, garbage), CREDS)


def test_hangup_causes_tell_busy_from_declined() -> None:
    busy = PLIVO.parse_status({"CallStatus": "busy", "HangupCause": "USER_BUSY"})
    declined = PLIVO.parse_status({"CallStatus": "busy", "HangupCause": "CALL_REJECTED"})
    assert busy.status is declined.status is CallStatus.BUSY
    assert "the line was busy" in busy.error_message
    assert "declined the call" in declined.error_message
    assert PLIVO.parse_status({"CallStatus": "timeout"}).status is CallStatus.NO_ANSWER


def test_machine_detection_result() -> None:
    assert PLIVO.parse_status({"Machine": "true"}).answered_by is AnsweredBy.MACHINE
    assert PLIVO.parse_status({"Machine": "false"}).answered_by is AnsweredBy.HUMAN
    assert PLIVO.parse_status({"Machine": "true"}).status is None


def test_answer_xml_opens_a_bidirectional_mulaw_stream_with_the_token_in_its_path() -> None:
    urls = CallUrls("a", "s", "m", "wss://vox.example/telephony/plivo/media/s1", "t-_1")
    for carrier in (PLIVO, VOBIZ):
        stream = ET.fromstring(carrier.answer_document(urls, "c-1", "s1")).find("Stream")
        assert stream is not None and stream.get("bidirectional") == "true"
        assert stream.get("keepCallAlive") == "true"
        assert stream.get("contentType") == "audio/x-mulaw;rate=8000"
        assert stream.text == "wss://vox.example/telephony/plivo/media/s1/t-_1", "no query string to lose"
        extra = stream.get("extraHeaders")
        assert extra is None or re.fullmatch(r"[A-Za-z0-9=,]{0,512}", extra), "only letters and digits"


def test_the_documented_start_message_is_read() -> None:
    """Plivo's start event exactly as its audio-streaming page shows it."""
    documented = {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": "c1",
            "streamId": "s1",
            "accountId": "MA1",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "a=1",
    }
    for carrier in (PLIVO, VOBIZ):
        handshake = asyncio.run(carrier.accept_media(_Socket([documented])))  # type: ignore[arg-type]
        assert handshake.stream_id == "s1" and handshake.carrier_call_id == "c1"


class _Socket:
    def __init__(self, messages: list[dict]) -> None:
        self.messages = [json.dumps(m) for m in messages]

    async def receive_text(self) -> str:
        return self.messages.pop(0)
