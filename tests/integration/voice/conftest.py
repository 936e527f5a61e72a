"""A real Voxline server on loopback with a Twilio-protocol media route, for the voice runtime's tests.

The route reads Twilio's `connected`/`start` handshake, builds a MediaChannel with Pipecat's own
TwilioFrameSerializer, and hands it to the VoiceRuntime the test registered for that session. The
callee is `voxline.voice.twilio_peer.TwilioCallee`, a real websocket client speaking Media Streams.
These tests run on one SQLite database: what they check is the conversation, not the SQL dialect
(the finalization's SQL is covered on both databases by the platform's own tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from fastapi import WebSocket
from pipecat.serializers.twilio import TwilioFrameSerializer

from voxline.accounts import partners
from voxline.app import create_app
from voxline.context import Context
from voxline.settings import Settings
from voxline.store.migrate import upgrade
from voxline.voice.catalog import voices
from voxline.voice.interface import MediaChannel
from voxline.voice.runtime import VoiceRuntime

TWILIO_CREDS = {"account_sid": "AC" + "0123456789abcdef" * 2, "auth_token": "0123456789abcdef" * 2,
                "from_number": "+14155551234"}


class RecordingCarrierControl:
    """Stand-in for the carrier's REST side (hang up, transfer): records what the runtime asked for.

    A stand-in only until the Twilio emulator serves these calls; it says what was requested, nothing more.
    """

    supports_transfer = True

    def __init__(self) -> None:
        self.hang_ups = 0
        self.transfers: list[str] = []

    async def hang_up(self) -> None:
        self.hang_ups += 1

    async def transfer(self, to_number: str) -> None:
        self.transfers.append(to_number)


@dataclass
class VoiceServer:
    ctx: Context
    base_url: str
    ws_url: str
    http: httpx.AsyncClient
    runtimes: dict[str, VoiceRuntime] = field(default_factory=dict)
    controls: dict[str, Any] = field(default_factory=dict)
    answered_by: dict[str, str | None] = field(default_factory=dict)
    finished: dict[str, asyncio.Event] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture(scope="session")
async def voice_server(tmp_path_factory) -> AsyncIterator[VoiceServer]:
    data_dir = tmp_path_factory.mktemp("voice-data")
    port = _free_port()
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'voxline.db'}",
        public_base_url=f"http://127.0.0.1:{port}",
        rate_limit_per_min=1_000_000,
        calls_rate_limit_per_min=1_000_000,
        silence_timeout_secs=20,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url, None)
    ctx = Context.build(settings)
    app = create_app(ctx=ctx)
    server_state = VoiceServer(ctx, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/test-media/twilio",
                               httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=30))

    @app.websocket("/test-media/twilio")
    async def twilio_media(websocket: WebSocket) -> None:
        await websocket.accept()
        start: dict[str, Any] = {}
        while not start:
            msg = json.loads(await websocket.receive_text())
            if msg.get("event") == "start":
                start = msg["start"]
        session_id = start["customParameters"]["session_id"]
        serializer = TwilioFrameSerializer(
            stream_sid=start["streamSid"], call_sid=start["callSid"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        channel = MediaChannel(
            websocket=websocket, serializer=serializer, wire_sample_rate=8000, provider="twilio",
            call_id=start["customParameters"].get("call_id", ""), session_id=session_id,
            answered_by=server_state.answered_by.get(session_id),
            control=server_state.controls.get(session_id),
        )
        try:
            await server_state.runtimes[session_id].run(channel)
        finally:
            server_state.finished.setdefault(session_id, asyncio.Event()).set()

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="websockets")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.02)
    try:
        yield server_state
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await server_state.http.aclose()
        await ctx.close()


@dataclass
class PlacedCall:
    call_id: str
    session_id: str
    agent: dict[str, Any]
    headers: dict[str, str]


async def place_call(
    server: VoiceServer, *, variables: dict[str, Any] | None = None, **agent_fields: Any
) -> PlacedCall:
    """A partner, an agent and a started call (call + session rows), ready for its media stream."""
    issued = await partners.create_partner(server.ctx, f"v-{uuid.uuid4().hex[:10]}", partners.Limits(concurrency=500))
    headers = {"Authorization": f"Bearer {issued.api_key}"}
    body = {
        "agent_name": f"agent-{uuid.uuid4().hex[:8]}",
        "prompt": "You are calling {{callee_name}} to confirm an appointment.",
        "voice_id": voices()[0].id,
        "intro_message": "Hello {{callee_name}}, this is the clinic calling.",
        "variables": ["callee_name"],
    }
    body.update(agent_fields)
    r = await server.http.post("/agent", json=body, headers=headers)
    assert r.status_code == 200, r.text
    agent = r.json()["data"]
    r = await server.http.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=headers)
    assert r.status_code == 200, r.text
    r = await server.http.post("/calls/start", headers=headers, json={
        "agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio",
        "variables": variables if variables is not None else {"callee_name": "Sajal"},
    })
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return PlacedCall(data["call_id"], data["session_id"], agent, headers)


async def wait_finished(server: VoiceServer, session_id: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    """Until the runtime has returned for this session (finalization included)."""
    await asyncio.wait_for(server.finished.setdefault(session_id, asyncio.Event()).wait(), timeout)
