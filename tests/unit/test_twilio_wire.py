"""Twilio's wire, checked without a network: callback parsing, TwiML, and signatures as Twilio makes them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from twilio.request_validator import RequestValidator

from voxline.core.call_status import AnsweredBy, CallStatus
from voxline.telephony.carrier import CallUrls, CarrierRequest
from voxline.telephony.twilio import CARRIER, Credentials

TOKEN = "fedcba9876543210" * 2
CREDS = Credentials(account_sid="AC" + "0" * 32, auth_token=TOKEN, from_number="+14155551234")
URL = "https://vox.example/telephony/twilio/status/c1?token=abc"


def _request(params: dict[str, str], signature: str) -> CarrierRequest:
    return CarrierRequest("POST", URL, params, {"x-twilio-signature": signature})


def test_a_callback_signed_by_twilio_is_accepted() -> None:
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    signature = RequestValidator(TOKEN).compute_signature(URL, params)
    assert CARRIER.verify(_request(params, signature), CREDS)


def test_a_tampered_or_unsigned_callback_is_refused() -> None:
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    signature = RequestValidator(TOKEN).compute_signature(URL, params)
    assert not CARRIER.verify(_request({**params, "CallStatus": "completed"}, signature), CREDS)
    assert not CARRIER.verify(_request(params, ""), CREDS)
    assert not CARRIER.verify(_request(params, RequestValidator("0" * 32).compute_signature(URL, params)), CREDS)


def test_statuses_map_to_ours() -> None:
    expected = {
        "ringing": CallStatus.RINGING,
        "in-progress": CallStatus.IN_PROGRESS,
        "completed": CallStatus.COMPLETED,
        "busy": CallStatus.BUSY,
        "no-answer": CallStatus.NO_ANSWER,
        "failed": CallStatus.FAILED,
        "canceled": CallStatus.CANCELED,
    }
    for raw, ours in expected.items():
        assert CARRIER.parse_status({"CallStatus": raw}).status is ours


def test_busy_and_declined_say_which_they_were() -> None:
    busy = CARRIER.parse_status({"CallStatus": "busy", "SipResponseCode": "486"})
    declined = CARRIER.parse_status({"CallStatus": "busy", "SipResponseCode": "603"})
    assert "busy (SIP 486)" in busy.error_message
    assert "declined the call (SIP 603)" in declined.error_message


def test_answering_machine_verdicts_read_as_machine() -> None:
    for raw in ("machine_start", "machine_end_beep", "machine_end_silence", "fax"):
        assert CARRIER.parse_status({"AnsweredBy": raw}).answered_by is AnsweredBy.MACHINE
    assert CARRIER.parse_status({"AnsweredBy": "human"}).answered_by is AnsweredBy.HUMAN
    assert CARRIER.parse_status({"AnsweredBy": "unknown"}).answered_by is AnsweredBy.UNKNOWN


def test_the_answer_twiml_connects_the_stream_and_carries_the_token_as_a_parameter() -> None:
    urls = CallUrls("a", "s", "m", "wss://vox.example/telephony/twilio/media/s1", 'tok"<&')
    root = ET.fromstring(CARRIER.answer_document(urls, "c1", "s1"))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://vox.example/telephony/twilio/media/s1"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"token": 'tok"<&', "call_id": "c1"}
