"""The browser test call in a real browser: Debian's Chromium talks to an agent over WebRTC.

A Voxline server on loopback runs the offline engines (faster-whisper, Piper, the scripted brain). Headless
Chromium, driven by Playwright, opens the session's join page; its fake microphone plays a WAV in which
Piper says a line after a few seconds of silence (room for the agent's greeting). The page is operated
with the keyboard, and hung up with its button. Then: our transcript has the bot's greeting and the WAV's
words, the signed session.completed arrived without a `call` object, and GET /sessions/{id} shows it all.
A second session, whose caller says goodbye, is ended by the agent (its end-call tool). Both measure how
soon the greeting's first audio follows the browser's offer.
A screenshot of the page is saved under the test artifacts directory when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.async_api import async_playwright, expect

from voxline.accounts import partners
from voxline.app import create_app
from voxline.calls.conversation import voice_runtime
from voxline.context import Context
from voxline.core import keys
from voxline.devtools.demo import serve_local, webhook_receiver
from voxline.settings import Settings
from voxline.store.migrate import upgrade
from voxline.voice import local_models
from voxline.voice.catalog import voices
from voxline.webhooks.verification import verify

CHROMIUM = os.environ.get("VOXLINE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("VOXLINE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
LINE = "I would like to book an appointment for tomorrow."
LEAD_SILENCE_SECS = 10.0  # the greeting comes first: about 4 s of speech, after up to 5 s of set-up when busy
GREETING = "Hello Sam! This is the clinic calling about your appointment."
AGENT = {
    "agent_name": "browser-clinic",
    "prompt": "You are the friendly receptionist of a small clinic, talking to {{callee_name}}.",
    "intro_message": "Hello {{callee_name}}! This is the clinic calling about your appointment.",
    "variables": ["callee_name"],
    "enable_recording": True,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spoken_wav(path: Path, text: str, lead_secs: float) -> Path:
    """`text` in the offline Piper voice after `lead_secs` of silence, then a second of silence (16-bit mono)."""
    voice = local_models.piper_voice()
    chunks = list(voice.synthesize(text))
    rate = chunks[0].sample_rate
    speech = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), dtype=np.int16)
    pcm = np.concatenate([np.zeros(int(rate * lead_secs), np.int16), speech, np.zeros(rate, np.int16)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


async def launch(pw, microphone_wav: Path):
    """Debian's headless Chromium whose microphone plays `microphone_wav` once (then silence)."""
    return await pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}%noloop",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


async def open_and_start(page, started: dict) -> float:
    """Open the session's join link and start talking with the keyboard; returns when the offer was sent."""
    offer_at: list[float] = []
    page.on("request", lambda req: offer_at.append(time.monotonic()) if "/webrtc/offer" in req.url else None)
    await page.goto(f"{started['daily_room_url']}#token={started['daily_token']}")
    assert "#token" not in page.url  # the page takes the token out of the address bar
    # Keyboard only: the first stop is "Start talking".
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Start talking")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_attribute("data-state", "connected", timeout=30_000)
    assert offer_at
    return offer_at[0]


async def test_a_browser_talks_to_the_agent_over_webrtc_and_the_session_is_filed(tmp_path, request):
    from voxline.devtools.demo import quiet_logs

    quiet_logs()
    port, hook_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'voxline.db'}",
        public_base_url=base,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        silence_timeout_secs=30,
        tts_engines="piper",
        dialer_enabled=False,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url, None)
    ctx = Context.build(settings)
    app = create_app(ctx=ctx)
    runtimes = []

    def runtime(c):
        rt = voice_runtime(c)
        runtimes.append(rt)
        return rt

    app.state.call_runtime_factory = runtime
    received: asyncio.Queue = asyncio.Queue()
    hook_server, hook_task = await serve_local(webhook_receiver(received), hook_port, lifespan="off")
    server, task = await serve_local(app, port)
    wav = await asyncio.to_thread(spoken_wav, tmp_path / "caller.wav", LINE, LEAD_SILENCE_SECS)
    bye_wav = await asyncio.to_thread(spoken_wav, tmp_path / "bye.wav", "Thank you, goodbye.", LEAD_SILENCE_SECS)
    # The server's first conversation would otherwise assemble and load Whisper (seconds on a busy machine)
    # while the fake microphone, which starts at once, is already saying its line.
    await asyncio.to_thread(
        lambda: local_models.whisper_model(str(local_models.whisper_model_dir(tmp_path / "models")))
    )
    page = None
    try:
        issued = await partners.create_partner(ctx, "browser", partners.Limits(concurrency=2))
        issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
        headers = {"Authorization": f"Bearer {issued.api_key}"}
        async with httpx.AsyncClient(base_url=f"{base}/api/v2", headers=headers, timeout=60) as api:
            r = await api.post("/agent", json={**AGENT, "voice_id": voices("piper")[0].id})
            assert r.status_code == 200, r.text
            agent = r.json()["data"]
            r = await api.post(
                "/config/webhooks", json={"label": "browser", "url": f"http://127.0.0.1:{hook_port}/hook"}
            )
            secret = r.json()["data"]["secret"]
            r = await api.post("/sessions/webrtc", json={"agent_id": agent["id"], "variables": {"callee_name": "Sam"}})
            assert r.status_code == 200, r.text
            started = r.json()["data"]
            session_id = started["session_id"]

            async with async_playwright() as pw:
                browser = await launch(pw, wav)
                try:
                    page = await browser.new_page()
                    offer_at = await open_and_start(page, started)
                    # The live transcript: the greeting, what the browser's microphone said, and the answer.
                    bot_turns = page.locator('#transcript li[data-role="bot"]')
                    await expect(bot_turns.first).to_contain_text("clinic", timeout=30_000)
                    await expect(page.locator('#transcript li[data-role="user"]').first).to_contain_text(
                        "appointment", timeout=60_000
                    )
                    # (On a loaded machine a pause in the line may first get a short reply, cut off by barge-in.)
                    await expect(bot_turns.filter(has_text="booked")).to_have_count(1, timeout=60_000)
                    # The page plays the agent's audio stream (headless Chromium has no speaker, but the element runs).
                    playing = await page.evaluate(
                        "(() => { const a = document.getElementById('bot-audio');"
                        " return {paused: a.paused, t: a.currentTime, live: !!a.srcObject}; })()"
                    )
                    assert playing["live"] and not playing["paused"] and playing["t"] > 1.0, playing
                    await page.get_by_role("button", name="Hang up").click()
                    hung_up_at = time.monotonic()
                    await expect(page.get_by_role("status")).to_have_attribute("data-state", "ended")

                    headers_body = await asyncio.wait_for(received.get(), 90)
                    webhook_after_ms = round((time.monotonic() - hung_up_at) * 1000)
                    event = verify(secret, headers_body[0], headers_body[1])
                    data = event["data"]
                    assert event["event"] == "session.completed" and data["session_id"] == session_id
                    assert "call" not in data  # a browser session has no call
                    assert event["livemode"] is False
                    user = " ".join(t["content"] for t in data["transcript"] if t["role"] == "user").lower()
                    bot = [t["content"] for t in data["transcript"] if t["role"] == "bot"]
                    assert "book an appointment" in user and "tomorrow" in user, data["transcript"]
                    assert bot[0] == GREETING, data["transcript"]
                    assert any("booked your appointment" in b for b in bot), data["transcript"]

                    session = (await api.get(f"/sessions/{session_id}")).json()["data"]
                    assert session["status"] == "completed" and session["call_id"] is None
                    assert session["transcript"] == data["transcript"] and session["processing_complete"] is True
                    assert session["recording_url"] and session["duration_seconds"] >= 5
                    recording = await api.get(session["recording_url"])
                    assert recording.status_code == 200 and recording.content[:4] == b"RIFF"
                    # The line is free again.
                    assert (await api.get("/calls/concurrency")).json()["data"]["active"] == 0
                    first = runtimes[-1].last_result
                    assert first is not None and first.turn_clock.first_audio_at is not None
                    first_ms = round((first.turn_clock.first_audio_at - offer_at) * 1000)

                    await browser.close()

                    # A second session: this time the caller says goodbye, so the agent ends the call (its end-call
                    # tool) and the page shows it.
                    browser = await launch(pw, bye_wav)
                    r = await api.post(
                        "/sessions/webrtc", json={"agent_id": agent["id"], "variables": {"callee_name": "Sam"}}
                    )
                    page = await browser.new_page()
                    offer_at = await open_and_start(page, r.json()["data"])
                    await expect(page.get_by_role("status")).to_have_text("The agent ended the call.", timeout=60_000)
                    second = verify(secret, *(await asyncio.wait_for(received.get(), 90)))["data"]
                    assert second["session_id"] == r.json()["data"]["session_id"] and "call" not in second
                    said = [(t["role"], t["content"]) for t in second["transcript"]]
                    assert "goodbye" in said[-2][1].lower() and said[-1][0] == "bot", (
                        said
                    )  # the caller, then the farewell
                    second_result = runtimes[-1].last_result
                    assert second_result is not None and second_result.turn_clock.first_audio_at is not None
                    second_ms = round((second_result.turn_clock.first_audio_at - offer_at) * 1000)
                except BaseException:
                    if page is not None:
                        os.makedirs(ARTIFACTS, exist_ok=True)  # noqa: ASYNC230 - once, on failure
                        with contextlib.suppress(Exception):
                            await page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
                    raise
                finally:
                    await browser.close()

        print(
            f"\nbrowser session: offer to first bot audio {first_ms} ms (first session), {second_ms} ms (second); "
            f"webhook {webhook_after_ms} ms after the hang-up; turn latency "
            f"{session['latency']}; transcript {[(t['role'], t['content']) for t in data['transcript']]}"
        )
    finally:
        server.should_exit = True
        hook_server.should_exit = True
        for t in (task, hook_task):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 15)
        await ctx.close()


pytestmark = pytest.mark.slow
