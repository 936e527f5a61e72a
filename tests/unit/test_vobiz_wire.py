"""Vobiz's wire as Vobiz documents it, without a network: the callback signature (URL without its query,
"." and the nonce, HMAC-SHA256 with the auth token; the POST parameters unsigned), written out here from
the documents rather than from our code, so a change of ours that breaks the real wire fails here."""

from __future__ import annotations

import base64
import hashlib
import hmac

from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from voxline.telephony import vobiz
from voxline.telephony.carrier import CarrierRequest
from voxline.telephony.plivo import CARRIER as PLIVO
from voxline.telephony.vobiz import CARRIER as VOBIZ

TOKEN = "vobiz-token-1234"
CREDS = vobiz.Credentials(auth_id="MA_TEST1234", auth_token=TOKEN, from_number="+912231234568")
URL = "https://vox.example/telephony/vobiz/status/c1?token=abc"
NONCE = "12345678901234567890"  # Vobiz: a random 20-digit string
# A hang-up callback as Vobiz documents its fields (form post).
HANGUP = {
    "Event": "Hangup",
    "CallUUID": "a1b2c3d4-0000-4000-8000-000000000001",
    "From": "912231234568",
    "To": "919876543210",
    "Direction": "outbound",
    "CallStatus": "completed",
    "HangupCause": "NORMAL_CLEARING",
    "Duration": "12",
    "BillDuration": "12",
}


def documented(url: str, nonce: str, version: int = 3) -> str:
    """Vobiz's algorithm, restated from its 'validating callbacks' page."""
    base = url.split("?", 1)[0]
    message = base + ("." if version == 3 else "") + nonce
    return base64.b64encode(hmac.new(TOKEN.encode(), message.encode(), hashlib.sha256).digest()).decode()


def _request(headers: dict[str, str], params: dict[str, str] = HANGUP, url: str = URL) -> CarrierRequest:
    return CarrierRequest("POST", url, params, headers)


def test_a_documented_vobiz_callback_is_accepted() -> None:
    v3 = {"x-vobiz-signature-v3": documented(URL, NONCE), "x-vobiz-signature-v3-nonce": NONCE}
    assert VOBIZ.verify(_request(v3), CREDS)
    v2 = {"x-vobiz-signature-v2": documented(URL, NONCE, 2), "x-vobiz-signature-v2-nonce": NONCE}
    assert VOBIZ.verify(_request(v2), CREDS)


def test_the_signature_covers_the_url_without_query_and_not_the_body() -> None:
    headers = {"x-vobiz-signature-v3": documented(URL, NONCE), "x-vobiz-signature-v3-nonce": NONCE}
    assert VOBIZ.verify(_request(headers, {**HANGUP, "Duration": "99"}), CREDS), "body parameters are not signed"
    other_path = URL.replace("/c1", "/c2")
    assert not VOBIZ.verify(_request(headers, url=other_path), CREDS)


def test_a_callback_signed_with_plivos_algorithm_or_unsigned_is_refused() -> None:
    plivo_way = get_signature_v3(TOKEN, construct_post_url(URL, dict(HANGUP)).decode(), NONCE).decode()
    headers = {"x-vobiz-signature-v3": plivo_way, "x-vobiz-signature-v3-nonce": NONCE}
    assert not VOBIZ.verify(_request(headers), CREDS)
    assert not VOBIZ.verify(_request({}), CREDS), "Vobiz signs every callback"
    wrong_key = {"x-vobiz-signature-v3": documented(URL, NONCE) + "x", "x-vobiz-signature-v3-nonce": NONCE}
    assert not VOBIZ.verify(_request(wrong_key), CREDS)


def test_plivo_refuses_a_callback_signed_the_vobiz_way() -> None:
    headers = {"x-plivo-signature-v3": documented(URL, NONCE), "x-plivo-signature-v3-nonce": NONCE}
    assert not PLIVO.verify(_request(headers), CREDS)  # same token: only the scheme differs


def test_rest_requests_carry_vobiz_auth_headers_not_basic() -> None:
    assert VOBIZ.auth(CREDS) == {"headers": {"X-Auth-ID": "MA_TEST1234", "X-Auth-Token": TOKEN}}
    assert PLIVO.auth(CREDS) == {"auth": ("MA_TEST1234", TOKEN)}
