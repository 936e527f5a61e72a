"""SIP trunk settings are refused at save time with a clear reason; final SIP answers map to our statuses;
the media websocket's messages decode to the frames the runtime expects."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame, InterruptionFrame, OutputAudioRawFrame
from pydantic import ValidationError

from voxline.core.call_status import CallStatus
from voxline.telephony.carrier import CallUrls, DialRequest
from voxline.telephony.sip import CARRIER, Credentials, ended_status, target_for
from voxline.telephony.sip_serializer import SipFrameSerializer

GOOD = {"sip_host": "sip.example.net:5060", "did_number": "+14155550199"}


def _error(**fields: object) -> str:
    with pytest.raises(ValidationError) as info:
        Credentials.model_validate({**GOOD, **fields})
    return str(info.value)


def test_good_settings_are_kept() -> None:
    creds = Credentials.model_validate(
        {
            **GOOD,
            "outbound_username": "u1",
            "outbound_password": "p",
            "outbound_proxy": "sip:proxy.example.net:5070",
            "custom_headers": {"X-Account": "acme 1"},
            "transport": "TCP",
        }
    )
    assert creds.outbound_proxy == "proxy.example.net:5070" and creds.custom_headers == {"X-Account": "acme 1"}
    assert Credentials.model_validate({**GOOD, "sip_host": "10.0.0.7", "port": 5080}).port == 5080
    assert Credentials.model_validate({**GOOD, "sip_host": "[2001:db8::1]:5060"})


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"sip_host": "sip.example.net:70000"}, "port must be a number from 1 to 65535"),
        ({"sip_host": "bad_host!.net"}, "neither a host name nor an IPv4 address"),
        ({"sip_host": ":5060"}, "the host is missing"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"port": 5070}, "give the port once"),
        ({"transport": "SCTP"}, "'UDP', 'TCP' or 'TLS'"),
        ({"outbound_username": "u1"}, "outbound_username and outbound_password go together"),
        ({"outbound_password": "p"}, "outbound_username and outbound_password go together"),
        ({"outbound_username": "u 1", "outbound_password": "p"}, "outbound_username"),
        ({"outbound_proxy": "proxy..example"}, "outbound_proxy"),
        ({"custom_headers": {"Call-ID": "x"}}, "written by the SIP user agent"),
        ({"custom_headers": {"X Bad": "x"}}, "not a SIP header name"),
        ({"custom_headers": {"X-Ok": "a\r\nVia: evil"}}, "must be one line"),
        ({"did_number": "12"}, "phone number"),
        ({"source_ips": ["300.1.1.1"]}, "not an IP address or CIDR range"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(fields: dict, says: str) -> None:
    assert says in _error(**fields)


@pytest.mark.parametrize(
    ("code", "reason", "answered", "status"),
    [
        (200, "OK", True, CallStatus.COMPLETED),
        (486, "Busy Here", False, CallStatus.BUSY),
        (600, "Busy Everywhere", False, CallStatus.BUSY),
        (408, "Request Timeout", False, CallStatus.NO_ANSWER),
        (480, "Temporarily Unavailable", False, CallStatus.NO_ANSWER),
        (487, "Request Terminated", False, CallStatus.NO_ANSWER),
        (403, "Forbidden", False, CallStatus.FAILED),
        (404, "Not Found", False, CallStatus.FAILED),
        (503, "Service Unavailable", False, CallStatus.FAILED),
        (401, "Unauthorized", False, CallStatus.FAILED),
    ],
)
def test_final_answers_map_to_statuses(code: int, reason: str, answered: bool, status: CallStatus) -> None:
    update = ended_status(code, reason, answered)
    assert update.status is status
    if status is CallStatus.FAILED:
        assert f"SIP {code} {reason}" in (update.error_message or "")


def test_status_reports_parse() -> None:
    assert CARRIER.parse_status({"event": "ringing", "call_id": "k"}).status is CallStatus.RINGING
    ended = CARRIER.parse_status({"event": "ended", "code": "200", "reason": "OK", "answered": "1", "duration": "7"})
    assert ended.status is CallStatus.COMPLETED and ended.duration_seconds == 7


def test_the_invite_goes_to_the_trunk_as_the_caller_id() -> None:
    urls = CallUrls("a", "s", "m", "ws://x/telephony/sip/media/s1", "tok")
    req = DialRequest("c1", "s1", "+14155550123", "+14155550100", urls, False, 30, 600)
    creds = {
        **GOOD,
        "transport": "TCP",
        "outbound_username": "u",
        "outbound_password": "p",
        "outbound_proxy": "proxy.example.net",
        "custom_headers": {"X-Account": "a"},
    }
    target = target_for(creds, req)
    assert target.uri == "sip:+14155550123@sip.example.net:5060;transport=tcp"
    assert target.from_uri == "sip:+14155550100@sip.example.net"
    assert target.outbound_proxy == "sip:proxy.example.net;lr;transport=tcp"
    assert target.headers == (("X-Account", "a"),) and (target.username, target.password) == ("u", "p")


async def test_media_messages_decode_and_encode() -> None:
    serializer = SipFrameSerializer()
    await serializer.setup(type("Setup", (), {"audio_in_sample_rate": 8000})())
    frame = await serializer.deserialize(b"\x01\x00" * 160)
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 8000 and len(frame.audio) == 320
    dtmf = await serializer.deserialize('{"event":"dtmf","digit":"5"}')
    assert isinstance(dtmf, InputDTMFFrame) and dtmf.button.value == "5"
    assert await serializer.serialize(InterruptionFrame()) == '{"event":"clear"}'
    out = await serializer.serialize(OutputAudioRawFrame(b"\x02\x00" * 160, sample_rate=8000, num_channels=1))
    assert out == b"\x02\x00" * 160
