"""How calls end and what they leave behind: voicemail, transfer, recording, extraction (stand-in STT/TTS)."""

from __future__ import annotations

import asyncio
import wave
from urllib.parse import parse_qs, urlparse

import httpx

from tests.integration.voice.conftest import RecordingCarrierControl, place_call, wait_finished
from voxline.calls.conversation import voice_runtime
from voxline.devtools.callee_voice import line
from voxline.devtools.standins import StandInEngines
from voxline.devtools.twilio_peer import TwilioCallee
from voxline.voice.engines import LLMEndpoint

GREETING = "Hi, you have reached Sajal. I am not available right now. Please leave a message after the tone."


async def _enable_account_voicemail(server, call) -> None:
    from voxline.accounts import partners

    async with server.ctx.db.transaction() as s:
        from voxline.store import calls as calls_store

        c = await calls_store.get_call_by_id(s, call.call_id)
        partner_id = c.partner_id
    await partners.update_partner(server.ctx, partner_id, partners.Limits(voicemail_detection=True))


async def _run(server, call, script, lines, *, answered_by=None, control=None, engines=None, **kw):
    runtime = voice_runtime(server.ctx, engines or StandInEngines(script))
    server.runtimes[call.session_id] = runtime
    server.answered_by[call.session_id] = answered_by
    if control is not None:
        server.controls[call.session_id] = control
    callee = TwilioCallee(server.ws_url, lines, custom={"session_id": call.session_id}, **kw)
    heard = await asyncio.wait_for(callee.run(), 60)
    await wait_finished(server, call.session_id)
    r = await server.http.get(f"/calls/{call.call_id}", headers=call.headers)
    assert r.status_code == 200, r.text
    return runtime, heard, r.json()["data"]


async def test_carrier_amd_machine_gets_the_voicemail_message_with_variables_then_the_call_ends(voice_server):
    call = await place_call(
        voice_server,
        voicemail_detection_enabled=True,
        voicemail_message="Hi {{callee_name}}, the clinic called. Please call us back.",
    )
    await _enable_account_voicemail(voice_server, call)
    control = RecordingCarrierControl()
    runtime, heard, data = await _run(
        voice_server,
        call,
        [GREETING],
        [line(GREETING, pause_before_ms=0)],
        speaks_first=True,
        answered_by="machine",
        control=control,
    )
    bot = [t["content"] for t in data["session"]["transcript"] if t["role"] == "bot"]
    assert bot == ["Hi Sajal, the clinic called. Please call us back."]  # no greeting to a machine
    assert data["disposition"] == "voicemail" and data["answered_by"] == "machine"
    assert control.hang_ups == 1  # the bot ended it, so the carrier is told to hang up


async def test_voicemail_without_a_message_hangs_up_without_speaking(voice_server):
    call = await place_call(voice_server, voicemail_detection_enabled=True)
    await _enable_account_voicemail(voice_server, call)
    runtime, heard, data = await _run(
        voice_server, call, [GREETING], [line(GREETING, pause_before_ms=0)], speaks_first=True, answered_by="machine"
    )
    assert [t for t in data["session"]["transcript"] if t["role"] == "bot"] == []
    assert data["disposition"] == "voicemail" and data["answered_by"] == "machine"
    assert runtime.last_result.reason == "voicemail"


async def test_in_band_detection_recognises_a_voicemail_greeting_when_the_carrier_has_no_amd(voice_server):
    call = await place_call(voice_server, voicemail_detection_enabled=True, voicemail_message="Please call back.")
    await _enable_account_voicemail(voice_server, call)
    runtime, heard, data = await _run(
        voice_server, call, [GREETING], [line(GREETING, pause_before_ms=0)], speaks_first=True
    )
    bot = [t["content"] for t in data["session"]["transcript"] if t["role"] == "bot"]
    assert bot == ["Please call back."]
    assert data["disposition"] == "voicemail" and data["answered_by"] == "machine"


async def test_in_band_detection_lets_a_person_through_and_greets_them(voice_server):
    call = await place_call(voice_server, voicemail_detection_enabled=True, voicemail_message="Please call back.")
    await _enable_account_voicemail(voice_server, call)
    script = ["Hello, who is calling?", "Thank you very much, goodbye."]
    runtime, heard, data = await _run(
        voice_server, call, script, [line(script[0], pause_before_ms=100), line(script[1])]
    )
    bot = [t["content"] for t in data["session"]["transcript"] if t["role"] == "bot"]
    assert bot[0] == "Hello Sajal, this is the clinic calling."
    assert data["answered_by"] == "human" and data["disposition"] == "completed"


async def test_transfer_tool_announces_then_moves_the_callee_to_the_transfer_number(voice_server):
    call = await place_call(
        voice_server,
        transfer_enabled=True,
        transfer_number="+14155550000",
        transfer_message="Connecting you to {{callee_name}}'s care team now.",
    )
    control = RecordingCarrierControl()
    script = ["Can I speak to a real person please?"]
    runtime, heard, data = await _run(voice_server, call, script, [line(script[0])], control=control)
    bot = [t["content"] for t in data["session"]["transcript"] if t["role"] == "bot"]
    assert bot[-1] == "Connecting you to Sajal's care team now."
    assert control.transfers == ["+14155550000"]
    assert runtime.last_result.reason == "transfer" and control.hang_ups == 0


async def test_recording_is_a_stereo_wav_behind_a_signed_expiring_link(voice_server):
    call = await place_call(voice_server, enable_recording=True)
    script = ["I would like to book an appointment.", "Thank you very much, goodbye."]
    await _run(voice_server, call, script, [line(script[0]), line(script[1])])
    r = await voice_server.http.get(f"/calls/{call.call_id}/recording-url", headers=call.headers)
    assert r.status_code == 200, r.text
    url = r.json()["data"]["recording_url"]
    async with httpx.AsyncClient(timeout=10) as anon:  # no API key: the signature is the permission
        got = await anon.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "audio/wav"
        path = voice_server.ctx.settings.data_dir / "check.wav"
        path.write_bytes(got.content)
        with wave.open(str(path)) as w:
            assert w.getnchannels() == 2 and w.getframerate() == 8000 and w.getnframes() > 8000 * 3
        q = parse_qs(urlparse(url).query)
        base = url.split("?")[0]
        tampered = await anon.get(base, params={"exp": q["exp"][0], "sig": "0" * 64})
        expired_sig = await anon.get(base, params={"exp": "1000", "sig": q["sig"][0]})
        assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "FORBIDDEN"
        assert expired_sig.status_code == 403
    from voxline.voice import recording

    signer = recording.signer(voice_server.ctx.settings)
    old_exp = 1_000_000
    expired = await httpx.AsyncClient().get(base, params={"exp": old_exp, "sig": signer.sign(call.session_id, old_exp)})
    assert expired.status_code == 403  # correctly signed, but past its expiry
    session = (await voice_server.http.get(f"/calls/{call.call_id}", headers=call.headers)).json()["data"]["session"]
    assert session["recording_url"].startswith(base)


async def test_calls_without_recording_have_no_recording_link(voice_server):
    call = await place_call(voice_server)
    await _run(voice_server, call, ["Thank you very much, goodbye."], [line("Thank you very much, goodbye.")])
    r = await voice_server.http.get(f"/calls/{call.call_id}/recording-url", headers=call.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "RECORDING_NOT_FOUND"


EXTRACTION = {
    "prompt": "What did the callee want?",
    "keys": [
        {"name": "wants_appointment", "type": "boolean", "description": "asked to book"},
        {"name": "topic", "type": "string", "description": "what about"},
        {"name": "callback_date", "type": "date", "description": "when to call back"},
    ],
}


async def test_extraction_fills_every_configured_key_and_can_be_replayed(voice_server):
    call = await place_call(voice_server, extraction_config=EXTRACTION)
    script = ["I would like to book an appointment.", "Thank you very much, goodbye."]
    _, _, data = await _run(voice_server, call, script, [line(script[0]), line(script[1])])
    ex = data["session"]["extraction"]
    assert ex["status"] == "success", ex
    assert ex["values"] == {"wants_appointment": True, "topic": "book", "callback_date": None}
    r = await voice_server.http.post(f"/calls/{call.call_id}/extract", json={"dry_run": True}, headers=call.headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["dry_run"] is True and r.json()["data"]["extraction"]["status"] == "success"


async def test_extraction_failure_is_recorded_and_the_session_still_completes(voice_server):
    call = await place_call(voice_server, extraction_config=EXTRACTION)
    dead = LLMEndpoint("http://127.0.0.1:9/v1", "x", "none", scripted=False)  # nothing listens on port 9
    brain = StandInEngines([]).llm_endpoint()

    class SplitEngines(StandInEngines):
        """Conversation on the scripted brain; extraction pointed at an endpoint that is down."""

        def __init__(self, script):
            super().__init__(script, brain)
            self.calls = 0

        def llm_endpoint(self):
            self.calls += 1
            return brain if self.calls == 1 else dead

    script = ["Thank you very much, goodbye."]
    _, _, data = await _run(voice_server, call, script, [line(script[0])], engines=SplitEngines(script))
    ex = data["session"]["extraction"]
    assert ex["status"] == "failed" and "ConnectError" in ex["error"]
    assert ex["values"] == {"wants_appointment": None, "topic": None, "callback_date": None}
    assert data["session"]["processing_complete"] is True


async def test_replaying_extraction_without_a_config_is_refused(voice_server):
    call = await place_call(voice_server)
    await _run(voice_server, call, ["Thank you very much, goodbye."], [line("Thank you very much, goodbye.")])
    r = await voice_server.http.post(f"/calls/{call.call_id}/extract", json={}, headers=call.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "EXTRACTION_NOT_CONFIGURED"
